from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from peygir.ticket_store.models import ForwardState

# Forwarding reports to a city's Open311 back office (issue 19): one row per forwarded
# ticket, the back office's update window, and peygir's own Open311 POSTs by idempotency key.


class Migration(migrations.Migration):
    dependencies = [('peygir', '0014_happenings')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ForwardedReport',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('endpoint', fields.CharField(max_length=64)),
                ('remote_code', fields.CharField(max_length=64)),
                ('state', fields.CharEnumField(default=ForwardState.PENDING, description='PENDING: pending\nSENT: sent\nUNCERTAIN: uncertain\nFAILED: failed', enum_type=ForwardState, max_length=16)),
                ('idempotency_key', fields.CharField(unique=True, max_length=64)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('remote_id', fields.CharField(null=True, max_length=64)),
                ('remote_token', fields.CharField(null=True, max_length=64)),
                ('remote_status', fields.CharField(null=True, max_length=16)),
                ('notes_digest', fields.CharField(null=True, max_length=64)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('checked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'forwarded_report', 'app': 'peygir', 'unique_together': (('ticket',),), 'indexes': [Index(fields=['state', 'next_attempt_at']), Index(fields=['endpoint', 'remote_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ForwardCursor',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('endpoint', fields.CharField(unique=True, max_length=64)),
                ('fetched_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'forward_cursor', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Open311Idempotency',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client', fields.CharField(max_length=16)),
                ('key', fields.CharField(max_length=64)),
                ('ticket', fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'open311_idempotency', 'app': 'peygir', 'unique_together': (('client', 'key'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
