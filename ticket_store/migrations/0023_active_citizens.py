from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from peygir.ticket_store.models import ApplicationStatus

# Active citizens and volunteers (issue 20): the name a citizen chose for the public ranking
# and when they opted in; a citizen's application to be a volunteer, decided in the panel.


class AddColumn(ops.AddField):
    """AddField whose reversal drops the column in place (SQLite ≥ 3.35 can): SQLite's usual
    rebuild of the table would drop ``citizen`` while tickets' foreign keys point at it."""

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if not state_editor:
            return
        model = old_state.apps.get_model(f"{app_label}.{self.model_name}")
        field = model._meta.fields_map[self.name]
        column = field.source_field or field.model_field_name
        await state_editor._run_sql(
            f'ALTER TABLE "{model._meta.db_table}" DROP COLUMN "{column}"')


class Migration(migrations.Migration):
    dependencies = [('peygir', '0022_place_codes')]

    initial = False

    operations = [
        AddColumn(
            model_name='Citizen',
            name='public_name',
            field=fields.CharField(null=True, max_length=64),
        ),
        AddColumn(
            model_name='Citizen',
            name='ranked_since',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.CreateModel(
            name='VolunteerApplication',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('citizen', fields.ForeignKeyField('peygir.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=32)),
                ('chat_id', fields.CharField(max_length=128)),
                ('reason', fields.TextField(unique=False)),
                ('status', fields.CharEnumField(default=ApplicationStatus.PENDING, description='PENDING: pending\nAPPROVED: approved\nREJECTED: rejected', enum_type=ApplicationStatus, max_length=16)),
                ('reviewed_by', fields.CharField(null=True, max_length=64)),
                ('review_note', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'volunteer_application', 'app': 'peygir', 'indexes': [Index(fields=['status', 'id']), Index(fields=['citizen_id', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
