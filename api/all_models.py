"""Import every table module, so ``Base.metadata`` knows the whole schema (Alembic, tests)."""

from api.auth import models as auth_models
from api.datasets import models as dataset_models
from api.db import Base
from api.jobs import models as job_models
from api.projects import models as project_models
from api.registry import models as registry_models
from api.tenants import models as tenant_models

metadata = Base.metadata

__all__ = ["auth_models", "dataset_models", "job_models", "metadata", "project_models",
           "registry_models", "tenant_models"]
