from tortoise import migrations
from tortoise.migrations import operations as ops
from peygir.ticket_store.models import StaffRole
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('peygir', '0005_open311')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LoginAttempt',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(max_length=64)),
                ('ip', fields.CharField(max_length=64)),
                ('ok', fields.BooleanField()),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'login_attempt', 'app': 'peygir', 'indexes': [Index(fields=['username', 'at']), Index(fields=['ip', 'at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffUser',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('username', fields.CharField(unique=True, max_length=64)),
                ('full_name', fields.CharField(default='', max_length=128)),
                ('password_hash', fields.CharField(max_length=256)),
                ('role', fields.CharEnumField(description='OPERATOR: operator\nUNIT: unit\nMANAGER: manager\nADMIN: admin', enum_type=StaffRole, max_length=16)),
                ('unit_code', fields.CharField(null=True, max_length=64)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'staff_user', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('user', fields.ForeignKeyField('peygir.StaffUser', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('csrf_token', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_seen', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_session', 'app': 'peygir', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['created_at', 'status', 'answer_due', 'first_answer_at', 'unit_code', 'district', 'service_code', 'rating']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['resolved_at']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['closed_at']),
        ),
        ops.AddIndex(
            model_name='Ticket',
            index=Index(fields=['unit_code', 'status', 'priority', 'answer_due']),
        ),
    ]
