from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from core.models.base import CustomerChannel, Language, OrderStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Seller',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('username', fields.CharField(unique=True, max_length=64)),
                ('password_hash', fields.CharField(null=True, max_length=255)),
                ('full_name', fields.CharField(default='', max_length=128)),
                ('phone', fields.CharField(null=True, max_length=16)),
                ('telegram_id', fields.BigIntField(null=True, unique=True)),
                ('language', fields.CharEnumField(default=Language.UZ, description='UZ: uz\nRU: ru\nEN: en', enum_type=Language, max_length=2)),
                ('plan', fields.CharField(default='free', max_length=32)),
                ('plan_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('is_admin', fields.BooleanField(default=False)),
                ('is_active', fields.BooleanField(default=True)),
                ('referral_code', fields.CharField(unique=True, max_length=16)),
                ('referred_by', fields.ForeignKeyField('models.Seller', source_field='referred_by_id', null=True, db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.SET_NULL)),
                ('campaign', fields.CharField(null=True, max_length=64)),
                ('customer_channel', fields.CharEnumField(default=CustomerChannel.SMS, description='SMS: sms\nWHATSAPP: whatsapp\nNONE: none', enum_type=CustomerChannel, max_length=16)),
                ('password_changed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sellers', 'app': 'models', 'pk_attr': 'id'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('seller', fields.ForeignKeyField('models.Seller', source_field='seller_id', null=True, db_constraint=True, to_field='id', related_name='audit_events', on_delete=OnDelete.SET_NULL)),
                ('actor', fields.CharField(max_length=64)),
                ('action', fields.CharField(db_index=True, max_length=64)),
                ('object_type', fields.CharField(max_length=32)),
                ('object_id', fields.CharField(max_length=64)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'audit_events', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Who changed what, written in the same transaction as the change it records.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Customer',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('seller', fields.ForeignKeyField('models.Seller', source_field='seller_id', db_constraint=True, to_field='id', related_name='customers', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(default='', max_length=128)),
                ('phone', fields.CharField(null=True, max_length=16)),
                ('telegram_chat_id', fields.BigIntField(null=True)),
                ('language', fields.CharEnumField(null=True, description='UZ: uz\nRU: ru\nEN: en', enum_type=Language, max_length=2)),
                ('marketing_consent', fields.BooleanField(default=False)),
                ('whatsapp_last_inbound_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'customers', 'app': 'models', 'unique_together': (('seller', 'phone'),), 'pk_attr': 'id'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='Order',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('seller', fields.ForeignKeyField('models.Seller', source_field='seller_id', db_constraint=True, to_field='id', related_name='orders', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', null=True, db_constraint=True, to_field='id', related_name='orders', on_delete=OnDelete.SET_NULL)),
                ('customer_name', fields.CharField(default='', max_length=128)),
                ('customer_phone', fields.CharField(null=True, max_length=16)),
                ('delivery_address', fields.CharField(default='', max_length=255)),
                ('notes', fields.TextField(default='', unique=False)),
                ('status', fields.CharEnumField(default=OrderStatus.NEW, description='NEW: new\nCONFIRMED: confirmed\nSHIPPED: shipped\nDELIVERED: delivered\nCANCELLED: cancelled\nRETURNED: returned', enum_type=OrderStatus, max_length=16)),
                ('total_amount', fields.BigIntField()),
                ('tracking_number', fields.CharField(null=True, max_length=64)),
            ],
            options={'table': 'orders', 'app': 'models', 'indexes': [Index(fields=['seller_id', 'status']), Index(fields=['seller_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='OrderEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('models.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('from_status', fields.CharField(null=True, max_length=16)),
                ('to_status', fields.CharField(max_length=16)),
                ('tracking_number', fields.CharField(null=True, max_length=64)),
                ('actor', fields.CharField(max_length=64)),
                ('note', fields.CharField(default='', max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'order_events', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Product',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('seller', fields.ForeignKeyField('models.Seller', source_field='seller_id', db_constraint=True, to_field='id', related_name='products', on_delete=OnDelete.CASCADE)),
                ('sku', fields.CharField(max_length=64)),
                ('name', fields.CharField(max_length=255)),
                ('description', fields.TextField(default='', unique=False)),
                ('price', fields.BigIntField()),
                ('stock', fields.IntField(default=0)),
                ('category', fields.CharField(default='', db_index=True, max_length=64)),
                ('photos', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'products', 'app': 'models', 'unique_together': (('seller', 'sku'),), 'pk_attr': 'id'},
            bases=['TimestampedModel'],
        ),
        ops.CreateModel(
            name='OrderItem',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('order', fields.ForeignKeyField('models.Order', source_field='order_id', db_constraint=True, to_field='id', related_name='items', on_delete=OnDelete.CASCADE)),
                ('product', fields.ForeignKeyField('models.Product', source_field='product_id', null=True, db_constraint=True, to_field='id', related_name='order_items', on_delete=OnDelete.SET_NULL)),
                ('name', fields.CharField(max_length=255)),
                ('sku', fields.CharField(null=True, max_length=64)),
                ('quantity', fields.IntField()),
                ('unit_price', fields.BigIntField()),
                ('line_total', fields.BigIntField()),
            ],
            options={'table': 'order_items', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TelegramLinkCode',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=16)),
                ('seller', fields.ForeignKeyField('models.Seller', source_field='seller_id', db_constraint=True, to_field='id', related_name='link_codes', on_delete=OnDelete.CASCADE)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'telegram_link_codes', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A one-time code shown by `GET /api/user` that links a Telegram account in the bot.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebSession',
            fields=[
                ('key_hash', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('seller', fields.ForeignKeyField('models.Seller', source_field='seller_id', null=True, db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'web_sessions', 'app': 'models', 'pk_attr': 'key_hash', 'table_description': 'A server-side session. The cookie carries only the opaque key, stored hashed.'},
            bases=['Model'],
        ),
    ]
