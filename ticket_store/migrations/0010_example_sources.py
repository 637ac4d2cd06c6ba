from tortoise import migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops
from tortoise import fields

# Labels from the running service keep their ticket or citizen, so that retention and a
# citizen's erasure remove the citizen's words from the examples too.


class Migration(migrations.Migration):
    dependencies = [('peygir', '0009_examples')]

    initial = False

    operations = [
        ops.AddField(
            model_name='LabelledExample',
            name='ticket',
            field=fields.ForeignKeyField('peygir.Ticket', source_field='ticket_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='LabelledExample',
            name='citizen',
            field=fields.ForeignKeyField('peygir.Citizen', source_field='citizen_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE),
        ),
    ]
