from tortoise import migrations
from tortoise.migrations import operations as ops
from staffgraph.models.user import new_security_stamp
from tortoise import fields


async def stamp_existing_users(apps, schema_editor):
    # every existing account gets its own random stamp (the column default is only a filler)
    client = schema_editor.client
    param = "$1" if client.capabilities.dialect == "postgres" else "?"
    other = "$2" if param == "$1" else "?"
    _, rows = await client.execute_query("SELECT id FROM users")
    for row in rows:
        await client.execute_query(
            f"UPDATE users SET security_stamp = {param} WHERE id = {other}",
            [new_security_stamp(), row["id"]],
        )


class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='User',
            name='security_stamp',
            field=fields.CharField(default=new_security_stamp, db_default='', max_length=32),
        ),
        ops.RunPython(stamp_existing_users, ops.RunPython.noop),
    ]
