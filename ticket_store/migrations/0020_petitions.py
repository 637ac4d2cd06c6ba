from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from peygir.ticket_store.models import PetitionStatus

# Petitions (issue 20): a citizen's proposal, approved by staff, signed once per channel
# identity (the unique constraint), and opening a ticket when it reaches its threshold.


class Migration(migrations.Migration):
    dependencies = [('peygir', '0019_area_alerts')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Petition',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('title', fields.CharField(max_length=200)),
                ('text', fields.TextField(unique=False)),
                ('district', fields.CharField(null=True, max_length=64)),
                ('citizen', fields.ForeignKeyField('peygir.Citizen', source_field='citizen_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
                ('photo', fields.ForeignKeyField('peygir.Attachment', source_field='photo_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('status', fields.CharEnumField(default=PetitionStatus.PENDING, description='PENDING: pending\nOPEN: open\nREJECTED: rejected\nPASSED: passed\nANSWERED: answered', enum_type=PetitionStatus, max_length=16)),
                ('threshold', fields.IntField(default=0)),
                ('answer_days', fields.IntField(default=0)),
                ('signature_count', fields.IntField(default=0)),
                ('ticket', fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('reviewed_by', fields.CharField(null=True, max_length=64)),
                ('review_note', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('passed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('answered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'petition', 'app': 'peygir', 'indexes': [Index(fields=['status', 'id']), Index(fields=['ticket_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PetitionSignature',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('petition', fields.ForeignKeyField('peygir.Petition', source_field='petition_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=32)),
                ('user_id', fields.CharField(max_length=128)),
                ('chat_id', fields.CharField(max_length=128)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'petition_signature', 'app': 'peygir', 'unique_together': (('petition', 'channel', 'user_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
