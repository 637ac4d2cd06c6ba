import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from peygir.ticket_store.models import FeedbackKind, QrSubjectKind

# QR codes for staff and places (issue 20): the city's staff members and places, their
# revocable codes, feedback on staff for the review team, and the tickets filed at a place.


class Migration(migrations.Migration):
    dependencies = [('peygir', '0021_claimed_by')]

    initial = False

    operations = [
        ops.CreateModel(
            name='QrSubject',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='STAFF: staff\nPLACE: place', enum_type=QrSubjectKind, max_length=8)),
                ('ref', fields.CharField(max_length=64)),
                ('name', fields.CharField(max_length=128)),
                ('role', fields.CharField(default='', max_length=128)),
                ('unit_code', fields.CharField(null=True, max_length=64)),
                ('place_kind', fields.CharField(null=True, max_length=16)),
                ('latitude', fields.FloatField(null=True)),
                ('longitude', fields.FloatField(null=True)),
                ('district', fields.CharField(null=True, max_length=64)),
                ('services', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'qr_subject', 'app': 'peygir', 'unique_together': (('kind', 'ref'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='QrCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('peygir.QrSubject', source_field='subject_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('token', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'qr_code', 'app': 'peygir', 'indexes': [Index(fields=['subject_id', 'revoked_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffFeedback',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('peygir.QrSubject', source_field='subject_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='PRAISE: praise\nSUGGESTION: suggestion\nCOMPLAINT: complaint', enum_type=FeedbackKind, max_length=16)),
                ('text', fields.TextField(unique=False)),
                ('photo', fields.ForeignKeyField('peygir.Attachment', source_field='photo_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('channel', fields.CharField(max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'staff_feedback', 'app': 'peygir', 'indexes': [Index(fields=['subject_id', 'kind', 'created_at']), Index(fields=['created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PlaceReport',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('subject', fields.ForeignKeyField('peygir.QrSubject', source_field='subject_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('ticket', fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'place_report', 'app': 'peygir', 'unique_together': (('ticket',),), 'indexes': [Index(fields=['subject_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
