from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from peygir.ticket_store.models import TicketStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='ChatState',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
                ('state', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'chat_state', 'app': 'peygir', 'unique_together': (('channel', 'chat_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Citizen',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=32)),
                ('user_id', fields.CharField(max_length=128)),
                ('phone', fields.CharField(null=True, max_length=32)),
                ('display_name', fields.CharField(null=True, max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'citizen', 'app': 'peygir', 'unique_together': (('channel', 'user_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'outbox_message', 'app': 'peygir', 'indexes': [Index(fields=['channel', 'chat_id', 'sent_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProcessedUpdate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('dedup_key', fields.CharField(unique=True, max_length=191)),
                ('processed_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'processed_update', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Ticket',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tracking_code', fields.CharField(unique=True, max_length=8)),
                ('citizen', fields.ForeignKeyField('peygir.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.RESTRICT)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
                ('service_code', fields.CharField(db_index=True, max_length=64)),
                ('description', fields.TextField(unique=False)),
                ('transcript', fields.TextField(null=True, unique=False)),
                ('latitude', fields.FloatField(null=True)),
                ('longitude', fields.FloatField(null=True)),
                ('address', fields.CharField(null=True, max_length=512)),
                ('status', fields.CharEnumField(default=TicketStatus.NEW, description='NEW: new\nASSIGNED: assigned\nIN_PROGRESS: in_progress\nRESOLVED: resolved\nCLOSED: closed\nREJECTED: rejected\nREFERRED: referred\nREOPENED: reopened', enum_type=TicketStatus, max_length=16)),
                ('urgent', fields.BooleanField(default=False)),
                ('onsite_due', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('answer_due', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('deep_link', fields.CharField(null=True, max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'ticket', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Attachment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', null=True, db_constraint=True, to_field='id', related_name='attachments', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
                ('kind', fields.CharField(max_length=16)),
                ('file_ref', fields.CharField(max_length=512)),
                ('mime', fields.CharField(null=True, max_length=128)),
                ('size', fields.IntField(null=True)),
                ('duration', fields.FloatField(null=True)),
                ('path', fields.CharField(null=True, max_length=512)),
                ('sha256', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'attachment', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('actor', fields.CharField(max_length=64)),
                ('from_status', fields.CharField(null=True, max_length=16)),
                ('to_status', fields.CharField(null=True, max_length=16)),
                ('note', fields.TextField(default='', unique=False)),
            ],
            options={'table': 'ticket_event', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
