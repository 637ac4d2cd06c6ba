from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('peygir', '0007_panel_rollups')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Ticket',
            name='anonymised_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Ticket',
            name='duplicate_of',
            field=fields.ForeignKeyField('peygir.Ticket', source_field='duplicate_of_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='duplicates', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='TicketEvent',
            name='public',
            field=fields.BooleanField(default=False),
        ),
        # Chats that reported the same thing used to follow another citizen's ticket and could
        # read its timeline; that access ends here (a later report is now a ticket of its own).
        ops.RunSQL('DELETE FROM ticket_follower', reverse_sql=ops.RunSQL.noop),
    ]
