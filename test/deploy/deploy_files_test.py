"""The files of deploy/ checked without a cluster or a container engine: every
YAML parses; the Kubernetes manifests have what DESIGN.md asks (one replica,
Recreate, non-root, read-only root with a /tmp emptyDir, probes on /healthz
and /readyz, requests, scrape annotations) and refer only to objects that
exist; every config (the image's, compose's, the ConfigMap's) passes
`nightshift check` with its jobs; compose refers only to files that exist and
`docker-compose config` accepts it (where Debian's docker-compose is
installed); the Grafana board parses, and it and the alert rules use only
metric names that lib/nightshift/server/metrics.cpp exports.
Usage: deploy_files_test.py NIGHTSHIFT_BINARY SOURCE_DIR"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

NIGHTSHIFT = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2])
DEPLOY = os.path.join(ROOT, "deploy")

sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
sys.argv = sys.argv[:1] + [NIGHTSHIFT]  # harness reads the binary from argv[1]
from alerts_test import metric_names  # noqa: E402  (the same parser as the live check)


def exported_by_source():
    """Metric names that metrics.cpp registers or writes (histograms with
    their _bucket, _sum and _count)."""
    with open(os.path.join(ROOT, "lib", "nightshift", "server", "metrics.cpp")) as f:
        source = f.read()
    names = set()
    for kind, name in re.findall(r'Build(Gauge|Counter|Histogram)\(\)\s*\.Name\("(\w+)"\)', source):
        names.add(name)
        if kind == "Histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    names |= set(re.findall(r'single_value\(\s*"(\w+)"', source))
    return names


def check_config(config_text, jobs, extra_files=None):
    """`nightshift check --config` on a config and its jobs in a scratch folder;
    returns the CompletedProcess."""
    tmp = tempfile.mkdtemp(prefix="nightshift-deploy-")
    try:
        os.makedirs(os.path.join(tmp, "jobs.d"))
        os.makedirs(os.path.join(tmp, "secrets"))
        for name, text in jobs.items():
            with open(os.path.join(tmp, "jobs.d", name), "w") as f:
                f.write(text)
        for name, text in (extra_files or {}).items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        # The absolute folders of a container do not exist here: the ones of
        # the scratch folder stand in.
        config_text = re.sub(r"^jobs_dir: .*$", "jobs_dir: jobs.d", config_text, flags=re.M)
        config_text = re.sub(r"^secrets_dir: .*$", "secrets_dir: secrets", config_text, flags=re.M)
        with open(os.path.join(tmp, "nightshift.yaml"), "w") as f:
            f.write(config_text)
        return subprocess.run([NIGHTSHIFT, "check", "--config", os.path.join(tmp, "nightshift.yaml")],
                              capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(tmp)


def read_jobs(folder):
    jobs = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.yaml"))):
        with open(path) as f:
            jobs[os.path.basename(path)] = f.read()
    return jobs


class YamlTest(unittest.TestCase):
    def test_every_yaml_file_parses(self):
        files = glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"), recursive=True)
        self.assertGreater(len(files), 10)
        for path in files:
            with self.subTest(path=os.path.relpath(path, ROOT)), open(path) as f:
                documents = [d for d in yaml.safe_load_all(f) if d is not None]
                self.assertTrue(documents)


class KubernetesTest(unittest.TestCase):
    def setUp(self):
        self.objects = {}
        for path in glob.glob(os.path.join(DEPLOY, "k8s", "*.yaml")):
            with open(path) as f:
                for doc in yaml.safe_load_all(f):
                    if doc and doc.get("kind") != "Kustomization":
                        self.assertIn("apiVersion", doc, path)
                        self.objects[(doc["kind"], doc["metadata"]["name"])] = doc
        self.deployment = self.objects[("Deployment", "nightshift")]

    def test_kustomization_lists_every_manifest(self):
        with open(os.path.join(DEPLOY, "k8s", "kustomization.yaml")) as f:
            listed = set(yaml.safe_load(f)["resources"])
        present = {os.path.basename(p) for p in glob.glob(os.path.join(DEPLOY, "k8s", "*.yaml"))}
        self.assertEqual(listed, present - {"kustomization.yaml"})

    def test_the_deployment(self):
        spec = self.deployment["spec"]
        self.assertEqual(spec["replicas"], 1)
        self.assertEqual(spec["strategy"]["type"], "Recreate")
        pod = spec["template"]["spec"]
        self.assertIs(pod["securityContext"]["runAsNonRoot"], True)
        annotations = spec["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/scrape"], "true")
        self.assertEqual(annotations["prometheus.io/port"], "8080")
        (container,) = pod["containers"]
        self.assertIs(container["securityContext"]["readOnlyRootFilesystem"], True)
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertIn("cpu", container["resources"]["requests"])
        self.assertIn("memory", container["resources"]["requests"])
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual(volumes[mounts["/tmp"]], {"name": "tmp", "emptyDir": {}})
        self.assertIn("persistentVolumeClaim", volumes[mounts["/var/lib/nightshift"]])
        self.assertIn("secret", volumes[mounts["/etc/nightshift/secrets"]])
        self.assertGreater(pod["terminationGracePeriodSeconds"], 45)  # shutdown_grace
        # The config file is read from a folder mount of its ConfigMap: kubelet
        # never updates subPath mounts (and podman kube play 4.3 ignores them).
        self.assertFalse([m for m in container["volumeMounts"] if "subPath" in m])
        config_path = container["args"][container["args"].index("--config") + 1]
        config_volume = volumes[mounts[os.path.dirname(config_path)]]
        self.assertEqual(config_volume["configMap"]["name"], "nightshift-config")
        self.assertIn(os.path.basename(config_path),
                      self.objects[("ConfigMap", "nightshift-config")]["data"])
        # Every volume names an object that is defined here.
        for volume in volumes.values():
            for key, kind, field in (("configMap", "ConfigMap", "name"),
                                     ("secret", "Secret", "secretName"),
                                     ("persistentVolumeClaim", "PersistentVolumeClaim", "claimName")):
                if key in volume:
                    self.assertIn((kind, volume[key][field]), self.objects, volume)
        # The service selects the pod.
        service = self.objects[("Service", "nightshift")]
        labels = spec["template"]["metadata"]["labels"]
        self.assertTrue(service["spec"]["selector"].items() <= labels.items())

    def test_the_configmap_config_and_jobs_are_valid(self):
        config = self.objects[("ConfigMap", "nightshift-config")]["data"]["nightshift.yaml"]
        jobs = self.objects[("ConfigMap", "nightshift-jobs")]["data"]
        result = check_config(config, jobs)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("listen: 0.0.0.0:8080", config)


class ComposeTest(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(DEPLOY, "compose.yaml")) as f:
            self.compose = yaml.safe_load(f)

    def test_the_services_and_their_files(self):
        services = self.compose["services"]
        self.assertEqual(set(services), {"nightshift", "mariadb", "prometheus", "alertmanager", "grafana"})
        self.assertEqual(services["nightshift"]["build"]["dockerfile"], "Dockerfile")
        self.assertTrue(os.path.exists(os.path.join(DEPLOY, services["nightshift"]["build"]["context"],
                                                    "Dockerfile")))
        for name, service in services.items():
            for volume in service.get("volumes", []):
                source = volume.split(":")[0]
                if source.startswith("."):
                    with self.subTest(service=name, source=source):
                        self.assertTrue(os.path.exists(os.path.join(DEPLOY, source)))
        for secret in self.compose["secrets"].values():
            self.assertTrue(os.path.exists(os.path.join(DEPLOY, secret["file"])))

    def test_the_compose_config_is_valid(self):
        with open(os.path.join(DEPLOY, "compose", "nightshift.yaml")) as f:
            config = f.read()
        result = check_config(config, read_jobs(os.path.join(ROOT, "examples", "mysql", "jobs.d")))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_docker_compose_config_accepts_it(self):
        tool = shutil.which("docker-compose")
        if not tool:
            self.skipTest("docker-compose is not installed (scripts/install-deps installs it)")
        result = subprocess.run([tool, "-f", os.path.join(DEPLOY, "compose.yaml"), "config", "-q"],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class ImageConfigTest(unittest.TestCase):
    def test_the_image_config_runs_the_example_jobs(self):
        with open(os.path.join(DEPLOY, "docker", "nightshift.yaml")) as f:
            config = f.read()
        self.assertIn("listen: 0.0.0.0:8080", config)
        result = check_config(config, read_jobs(os.path.join(ROOT, "jobs.d")))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


class MetricNamesTest(unittest.TestCase):
    def setUp(self):
        self.exported = exported_by_source()
        self.assertIn("nightshift_job_schedule_interval_seconds", self.exported)

    def test_the_board_uses_exported_metrics(self):
        with open(os.path.join(DEPLOY, "grafana", "nightshift.json")) as f:
            board = json.load(f)
        exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
        self.assertGreater(len(exprs), 10)
        for expr in exprs:
            with self.subTest(expr=expr):
                self.assertFalse(metric_names(expr) - self.exported - {"up"})

    def test_the_rules_use_exported_metrics(self):
        with open(os.path.join(DEPLOY, "prometheus", "nightshift-rules.yml")) as f:
            rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
        for rule in rules:
            with self.subTest(alert=rule["alert"]):
                self.assertIn("summary", rule["annotations"])
                self.assertIn("runbook", rule["annotations"])
                # Webhooks are not built yet: their counter is the one exception.
                unknown = metric_names(rule["expr"]) - self.exported - {"up", "nightshift_notifications_total"}
                self.assertFalse(unknown)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
