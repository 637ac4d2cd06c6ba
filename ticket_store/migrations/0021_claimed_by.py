from tortoise import fields, migrations
from tortoise.migrations import operations as ops

# Which process holds a claimed reply or voice note, so that processes sharing PostgreSQL
# tell a live worker's claim from a dead one's (issue 21).


class Migration(migrations.Migration):
    dependencies = [('peygir', '0020_petitions')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OutboxMessage',
            name='claimed_by',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='TranscriptionJob',
            name='claimed_by',
            field=fields.BigIntField(null=True),
        ),
    ]
