"""Where training runs in production: one A100 on the GPU node pool.

`fine_tuned_model` carries these as `dagster-k8s/config` op tags. With the
`k8s_job_executor` (or `K8sRunLauncher`), dagster-k8s merges them into the Job it
creates for the step, so the training step alone lands on a GPU node; every other step
stays on ordinary nodes. Locally the tags are inert and training runs in-process.
"""

# Node labels from NVIDIA's GPU feature discovery; the taint is the usual one on GPU pools.
A100_NODE_SELECTOR = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
GPU_TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]

TRAINING_K8S_CONFIG = {
    "container_config": {
        "resources": {
            "requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "96Gi", "nvidia.com/gpu": "1"},
        },
    },
    "pod_spec_config": {
        "node_selector": A100_NODE_SELECTOR,
        "tolerations": GPU_TOLERATIONS,
    },
    # A crashed pod is retried by Dagster's retry policy, which resumes from the last
    # checkpoint; Kubernetes itself should not restart the step behind Dagster's back.
    "job_spec_config": {"backoff_limit": 0},
}

TRAINING_OP_TAGS = {"dagster-k8s/config": TRAINING_K8S_CONFIG}

# The Docker path: DockerRunLauncher / docker_executor container_kwargs asking for GPUs.
DOCKER_GPU_CONTAINER_KWARGS = {
    "device_requests": [{"driver": "nvidia", "count": 1, "capabilities": [["gpu"]]}],
    "shm_size": "16g",
}
