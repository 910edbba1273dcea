"""The Ray Serve application without a cluster: replicas, GPUs and autoscaling read from the
VOICE_STUDIO_RAY_* variables and serve.yaml's args, every mistake named, and deploy/serve.yaml
checked by Serve's own schema and builder contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.options import ClusterOptions, ReplicaOptions
from engines import InputError

ENGINES = ("f5tts", "xtts")
SERVE_YAML = Path(__file__).resolve().parents[2] / "deploy" / "serve.yaml"


def read(env=None, args=None, gpus=False) -> ClusterOptions:
    return ClusterOptions.read(ENGINES, env or {}, args, cluster_has_gpus=gpus)


def test_defaults_one_replica_each_on_a_gpu_where_there_is_one():
    assert read().of("xtts") == ReplicaOptions(1, 1, 0.0, 1.0, 2.0, 8)
    assert read(gpus=True).of("f5tts").num_gpus == 1.0
    assert read().capacity == 16


def test_fixed_and_autoscaled_deployments():
    options = read({"VOICE_STUDIO_RAY_REPLICAS": "f5tts=1:4;xtts=2", "VOICE_STUDIO_RAY_GPUS": "0.5",
                    "VOICE_STUDIO_RAY_MAX_ONGOING": "xtts=16"})
    f5 = options.of("f5tts").deployment_kwargs()
    assert f5["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 4, "initial_replicas": 1,
                                        "target_ongoing_requests": 2.0}
    assert f5["ray_actor_options"] == {"num_gpus": 0.5, "num_cpus": 1.0} and "num_replicas" not in f5
    xtts = options.of("xtts").deployment_kwargs()
    assert xtts["num_replicas"] == 2 and xtts["max_ongoing_requests"] == 16 and "autoscaling_config" not in xtts
    assert options.capacity == 4 * 8 + 2 * 16


def test_serve_yaml_args_win_over_the_environment():
    options = read({"VOICE_STUDIO_RAY_REPLICAS": "3"}, {"replicas": "1:2", "cpus": 0.25})
    assert options.of("xtts").max_replicas == 2 and options.of("xtts").num_cpus == 0.25


@pytest.mark.parametrize("env, args, words", [
    ({"VOICE_STUDIO_RAY_REPLICAS": "4:1"}, None, "use min:max with max at least 1 and at least min"),
    ({"VOICE_STUDIO_RAY_REPLICAS": "0"}, None, "use min:max"),
    ({"VOICE_STUDIO_RAY_REPLICAS": "kokoro=2"}, None, "is not engine=value with an engine of f5tts, xtts"),
    ({"VOICE_STUDIO_RAY_REPLICAS": "xtts=1;xtts=2"}, None, "sets xtts twice"),
    ({"VOICE_STUDIO_RAY_GPUS": "half"}, None, "VOICE_STUDIO_RAY_GPUS='half' is not a number"),
    ({"VOICE_STUDIO_RAY_GPUS": "-1"}, None, "is out of range"),
    ({"VOICE_STUDIO_RAY_CPUS": "0"}, None, "a replica must ask for some GPU or CPU"),
    ({"VOICE_STUDIO_RAY_TARGET_ONGOING": "0"}, None, "must be more than 0"),
    ({"VOICE_STUDIO_RAY_MAX_ONGOING": "1.5"}, None, "is not a whole number from 1"),
    ({}, {"replica": "2"}, "serve.yaml args: unknown replica"),
])
def test_mistakes_are_named(env, args, words):
    with pytest.raises(InputError) as caught:
        read(env, args)
    assert words in str(caught.value)


def test_serve_yaml_is_a_valid_serve_config_whose_builder_builds_the_app():
    pytest.importorskip("ray", reason="requirements-ray.txt is not installed")
    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
    from ray.serve.schema import ServeDeploySchema

    from deploy.application import build

    config = ServeDeploySchema.model_validate(yaml.safe_load(SERVE_YAML.read_text()))
    [application] = config.applications
    assert application.import_path == "deploy.application:build" and application.route_prefix == "/"
    assert {"VOICE_STUDIO_OUTPUT_DIR", "VOICE_STUDIO_VOICES_DIR", "VOICE_STUDIO_CACHE_DIR"} <= set(
        application.runtime_env["env_vars"])
    app = call_user_app_builder_with_args_if_necessary(build, application.args)  # Serve's own contract check
    deployments = {d.name: d for d in _deployments(app)}
    assert set(deployments) == {"ingress", "f5tts", "xtts"}
    assert deployments["xtts"].ray_actor_options["num_gpus"] == 0.5
    assert deployments["f5tts"]._deployment_config.autoscaling_config.max_replicas == 4


def _deployments(app):
    """The ingress deployment and those its arguments bind (the engines)."""
    found = [app._bound_deployment]
    for value in app._bound_deployment.init_args:
        children = value.values() if isinstance(value, dict) else [value]
        found += [child._bound_deployment for child in children if hasattr(child, "_bound_deployment")]
    return found
