from tortoise import migrations
from tortoise.migrations import operations as ops
from peygir.ticket_store.models import JobStatus
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('peygir', '0002_outbox_claims')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TranscriptionJob',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
                ('user_id', fields.CharField(max_length=128)),
                ('attachment', fields.ForeignKeyField('peygir.Attachment', source_field='attachment_id', db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=JobStatus.PENDING, db_index=True, description='PENDING: pending\nRUNNING: running\nDONE: done\nFAILED: failed', enum_type=JobStatus, max_length=16)),
                ('transcript', fields.TextField(null=True, unique=False)),
                ('error', fields.TextField(null=True, unique=False)),
                ('attempts', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'transcription_job', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
