"""The resources and the executor of the code location.

Every resource has an embedded default that needs no setup; setting an environment
variable points it at the production part instead (see README, "Configuration").
"""

from __future__ import annotations


import dagster as dg
from dagster_openai import OpenAIResource

from ..settings import artifacts_root
from ..resources.embedder import SentenceEmbedderResource
from ..resources.files import ArtifactStoreResource, WorkbookResource
from ..resources.store import CorrectionStoreResource
from ..resources.text_generator import TextGeneratorResource
from ..resources.tracking import mlflow_resource
from ..settings import ARTIFACTS_DIR, DATABASE_URL, EXECUTOR, LLM_MODE, LLM_MODEL, WORKBOOK, env


def _from_env(field: str, variable: str) -> dict[str, dg.EnvVar]:
    """`{field: EnvVar(variable)}` when the variable is set, else nothing, so the field keeps
    its embedded default. Values are read at run time and stay out of code and metadata."""
    return {field: dg.EnvVar(variable)} if env(variable) else {}


def build_resources() -> dict[str, dg.ConfigurableResource | dg.ResourceDefinition]:
    openai = (
        OpenAIResource(api_key=dg.EnvVar("OPENAI_API_KEY"), **_from_env("base_url", "OPENAI_BASE_URL"))
        if env("OPENAI_API_KEY")
        else None
    )
    return {
        "workbook": WorkbookResource(**_from_env("path", WORKBOOK)),
        "artifacts": ArtifactStoreResource(**_from_env("root", ARTIFACTS_DIR)),
        "store": CorrectionStoreResource(**_from_env("database_url", DATABASE_URL)),
        "text_generator": TextGeneratorResource(
            openai=openai, **_from_env("model", LLM_MODEL),
            # Not a secret: the value itself, checked (sync or batch) when the code loads.
            **({"mode": env(LLM_MODE)} if env(LLM_MODE) else {}),
        ),
        "embedder": SentenceEmbedderResource(),
        "mlflow": mlflow_resource(),
        # Values passed between assets (the YAML specs, the model's and the evaluation's
        # records) are pickled next to the artifacts: in production that is the volume every
        # run container and step pod mounts. Dagster's default, $DAGSTER_HOME/storage, is
        # each container's own disk, where the next run or step cannot find them.
        "io_manager": dg.FilesystemIOManager(
            base_dir=str(artifacts_root() / "io_manager")),
    }


def build_executor() -> dg.ExecutorDefinition:
    """On Kubernetes (CORRECTLY_EXECUTOR=k8s, set by deploy/helm/values.yaml) each step runs
    as its own Job, so only the training step, with its GPU op tags, lands on the GPU pool.
    Elsewhere every step of a run runs in the run's own process: the graph is a chain, so
    a process per step (Dagster's default) would only pay the imports and the embedder's
    loading again for each step."""
    if env(EXECUTOR) == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return dg.in_process_executor


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources(), executor=build_executor())
