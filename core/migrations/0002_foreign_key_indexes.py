from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="AuditEvent",
            index=Index(fields=["seller_id", "created_at"]),
        ),
        ops.AddIndex(
            model_name="CustomerInvite",
            index=Index(fields=["customer_id"]),
        ),
        ops.AddIndex(
            model_name="Notification",
            index=Index(fields=["customer_id"]),
        ),
        ops.AddIndex(
            model_name="Order",
            index=Index(fields=["customer_id"]),
        ),
        ops.AddIndex(
            model_name="OrderEvent",
            index=Index(fields=["order_id"]),
        ),
        ops.AddIndex(
            model_name="OrderItem",
            index=Index(fields=["order_id"]),
        ),
        ops.AddIndex(
            model_name="OrderItem",
            index=Index(fields=["product_id"]),
        ),
        ops.AddIndex(
            model_name="OtpCode",
            index=Index(fields=["seller_id"]),
        ),
        ops.AddIndex(
            model_name="OtpCode",
            index=Index(fields=["notification_id"]),
        ),
        ops.AddIndex(
            model_name="Seller",
            index=Index(fields=["referred_by_id"]),
        ),
        ops.AddIndex(
            model_name="TelegramLinkCode",
            index=Index(fields=["seller_id"]),
        ),
        ops.AddIndex(
            model_name="WebSession",
            index=Index(fields=["seller_id"]),
        ),
    ]
