from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_users_security_stamp')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='User',
            index=Index(fields=['created_at', 'id']),
        ),
        ops.AddIndex(
            model_name='User',
            index=Index(fields=['is_active', 'created_at', 'id']),
        ),
    ]
