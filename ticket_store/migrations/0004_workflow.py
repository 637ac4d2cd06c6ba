from tortoise import migrations
from tortoise.migrations import operations as ops
from peygir.ticket_store.models import Standing
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('peygir', '0003_transcription_jobs')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EscalationAlert',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='alerts', on_delete=OnDelete.CASCADE)),
                ('level', fields.SmallIntField()),
                ('recipient', fields.CharField(max_length=16)),
                ('fired_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'escalation_alert', 'app': 'peygir', 'unique_together': (('ticket', 'level'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketFollower',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='followers', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'ticket_follower', 'app': 'peygir', 'unique_together': (('ticket', 'channel', 'chat_id'),), 'indexes': [Index(fields=['channel', 'chat_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Attachment',
            name='evidence',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Citizen',
            name='standing',
            field=fields.CharEnumField(default=Standing.NONE, description='NONE: \nVOLUNTEER: volunteer\nTRUSTED: trusted', enum_type=Standing, max_length=16),
        ),
        ops.AddField(
            model_name='Ticket',
            name='closed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='consent_requested_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='contact_consent',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='district',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
        ops.AddField(
            model_name='Ticket',
            name='duplicate_count',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Ticket',
            name='escalation_level',
            field=fields.SmallIntField(default=0),
        ),
        ops.AddField(
            model_name='Ticket',
            name='first_answer_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='onsite_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='priority',
            field=fields.SmallIntField(default=0),
        ),
        ops.AddField(
            model_name='Ticket',
            name='rated_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='rating',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddField(
            model_name='Ticket',
            name='resolved_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='unit_code',
            field=fields.CharField(null=True, db_index=True, max_length=64),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['status', 'priority', 'answer_due']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['escalation_level', 'created_at']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['service_code', 'status', 'latitude']),
        ),
    ]
