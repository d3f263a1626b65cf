"""`podman kube play` of deploy/k8s/ with the image scripts/test-container built:
the Deployment's pod comes up with the ConfigMaps' config and jobs, the
Secret's keys at secrets_dir, the PVC as a named volume, and the daemon answers
/healthz and /readyz on the pod's address, runs the ConfigMap's job as uid
10001 on a read-only root, and exits 0 when the pod is stopped (the drain).

What podman 4.3 (Debian 12) cannot play, and what stands in for it here:
- kind Secret: 4.3 knows no Secret kind (4.4 added it), and a `secret:` volume
  makes it crash (nil pointer in VolumeFromSecret) whether or not a podman
  secret of that name exists. The Secret's keys are written to a folder the
  way kubelet would (the volume's defaultMode, group fsGroup) and mounted with
  hostPath in its place. ctest deploy.files checks the Secret and that the
  Deployment refers to it.
- kind Service: ignored (no Service kind, no cluster network). The test asks
  the pod's address on podman's bridge, at the Service's target port.
- a containerPort without hostPort is published on the host's 0.0.0.0 at the
  same number (8080, which the host may use): the played copy gives it a free
  hostPort on 127.0.0.1 instead, and the test asks there too (as
  `kubectl port-forward` would).
- fsGroup is not applied (hence the group of the Secret's files set here);
  terminationGracePeriodSeconds is not the stop timeout (10 s): the test
  stops the pod with -t of it; the strategy (Recreate) and the readinessProbe
  are ignored (the test probes /readyz itself); the livenessProbe becomes a
  healthcheck `curl -f http://localhost:0/healthz` (the named port is not
  resolved, and the image has no curl), which only runs where podman has
  systemd to time it, and fails there.
- kustomization.yaml is no object: its `resources` say which files to play."""

import base64
import json
import os
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request

import yaml

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def load_objects(folder):
    with open(os.path.join(folder, "kustomization.yaml")) as f:
        resources = yaml.safe_load(f)["resources"]
    objects = []
    for name in resources:
        with open(os.path.join(folder, name)) as f:
            objects += [d for d in yaml.safe_load_all(f) if d]
    return objects


def secret_as_folder(secret, volume, fs_group, folder):
    """The Secret's keys as files, as kubelet mounts a secret volume."""
    path = os.path.join(folder, secret["metadata"]["name"])
    os.makedirs(path)
    os.chmod(path, 0o755)
    items = {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}
    items.update({k: v.encode() for k, v in secret.get("stringData", {}).items()})
    for key, value in items.items():
        with open(os.path.join(path, key), "wb") as f:
            f.write(value)
        os.chmod(os.path.join(path, key), volume["secret"].get("defaultMode", 0o644))
        os.chown(os.path.join(path, key), 0, fs_group if fs_group is not None else 0)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def playable(objects, folder):
    """The objects podman 4.3 plays, with the stand-ins above; and the
    Deployment and the Service."""
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (service,) = [o for o in objects if o["kind"] == "Service"]
    pod = deployment["spec"]["template"]["spec"]
    for volume in pod["volumes"]:
        if "secret" in volume:
            path = secret_as_folder(secrets[volume["secret"]["secretName"]], volume,
                                    pod.get("securityContext", {}).get("fsGroup"), folder)
            del volume["secret"]
            volume["hostPath"] = {"path": path, "type": "Directory"}
    for container in pod["containers"]:
        for port in container.get("ports", []):
            port.update(hostIP="127.0.0.1", hostPort=free_port())
    played = [o for o in objects if o["kind"] in ("ConfigMap", "PersistentVolumeClaim", "Deployment")]
    return played, deployment, service


def http_get(url):
    try:
        with OPENER.open(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def wait_for(what, predicate, timeout, logs):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"FAIL: kube play: timed out after {timeout} s waiting for {what}\n{logs()}")
        time.sleep(0.5)


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAIL: kube play: {message}")
    print(f"ok: kube play: {message}", flush=True)


def check_kube_play(sandbox, image, folder):
    objects = load_objects(folder)
    work = tempfile.mkdtemp(prefix="nightshift-kube-")
    os.chmod(work, 0o755)
    try:
        played, deployment, service = playable(objects, work)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        claims = [o["metadata"]["name"] for o in played if o["kind"] == "PersistentVolumeClaim"]
        play_file = os.path.join(work, "play.yaml")
        with open(play_file, "w") as f:
            yaml.safe_dump_all(played, f)
        # The manifest's image name stands for the image just built.
        sandbox.run("tag", image, container["image"])
        print(f"== podman kube play ({', '.join(sorted({o['kind'] for o in played}))} of "
              f"{os.path.relpath(folder)}; stand-ins: Secret as a folder, no Service)", flush=True)
        sandbox.run("kube", "down", play_file, check=False)
        sandbox.run("volume", "rm", "-f", *claims, check=False)
        sandbox.run("kube", "play", play_file)
        try:
            run_checks(sandbox, deployment, container, service, claims, mounted_jobs(objects, deployment))
        finally:
            sandbox.run("kube", "down", play_file, check=False)
            sandbox.run("volume", "rm", "-f", *claims, check=False)
            sandbox.run("rmi", container["image"], check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_checks(sandbox, deployment, container, service, claims, configmap_jobs):
    pod = f"{deployment['metadata']['name']}-pod-0"
    name = f"{pod}-{container['name']}"

    def logs():
        return sandbox.run("logs", name, check=False).stderr[-3000:]

    infra = sandbox.run("pod", "inspect", pod, "--format", "{{.InfraContainerID}}").stdout.strip()
    addresses = sandbox.run("inspect", infra, "--format",
                            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}").stdout.split()
    check(len(addresses) == 1, f"the pod {pod} has an address on podman's bridge: {addresses}")
    (service_port,) = service["spec"]["ports"]
    (port,) = [p for p in container["ports"] if service_port["targetPort"] in (p["name"], p["containerPort"])]
    url = f"http://{addresses[0]}:{port['containerPort']}"
    published = f"http://127.0.0.1:{port['hostPort']}"

    liveness = container["livenessProbe"]["httpGet"]["path"]
    readiness = container["readinessProbe"]["httpGet"]["path"]
    wait_for(liveness, lambda: http_get(url + liveness)[0] == 200, 60, logs)
    check(True, f"GET {url}{liveness} answers 200 (the liveness probe)")
    wait_for(readiness, lambda: http_get(url + readiness)[0] == 200, 60, logs)
    check(True, f"GET {url}{readiness} answers 200 (the readiness probe)")
    check(http_get(published + readiness)[0] == 200, f"and through the published port: {published}{readiness}")

    status, body = http_get(url + "/jobs")
    names = {j["job"] for j in json.loads(body)["jobs"]}
    check(status == 200 and names == configmap_jobs, f"the daemon serves the ConfigMap's jobs {sorted(names)}")

    uid = sandbox.run("exec", name, "id", "-u").stdout.strip()
    check(uid == str(deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]),
          f"runs as uid {uid}")
    probe = sandbox.run("exec", name, "sh", "-c", "touch /etc/nightshift/x", check=False)
    check(probe.returncode != 0, "the root file system is read-only")
    readable = sandbox.run("exec", name, "sh", "-c", "test -r /etc/nightshift/secrets/DB_PASSWORD", check=False)
    check(readable.returncode == 0, "the Secret's key is readable at secrets_dir")

    job = sorted(configmap_jobs)[0]
    request = urllib.request.Request(f"{url}/jobs/{job}/rerun", method="POST", data=b"")
    with OPENER.open(request, timeout=10) as r:
        check(r.status == 202, f"POST /jobs/{job}/rerun answers 202")
        run_id = json.loads(r.read())["run_id"]

    def finished():
        code, text = http_get(f"{url}/runs/{run_id}")
        run = json.loads(text) if code == 200 else {}
        return run if run.get("status") in ("succeeded", "failed", "cancelled") else None

    run = wait_for(f"run {run_id} of {job}", finished, 120, logs)
    check(run["status"] == "succeeded", f"the ConfigMap's {job} job runs in the pod: {run['status']}")

    volume = sandbox.run("volume", "inspect", claims[0], "--format", "{{.Mountpoint}}").stdout.strip()
    check(os.path.exists(os.path.join(volume, "nightshift.db")),
          f"the store is on the PVC's volume {claims[0]}")

    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    sandbox.run("pod", "stop", "-t", str(grace), pod, timeout=grace + 60)
    code = sandbox.run("inspect", name, "--format", "{{.State.ExitCode}}").stdout.strip()
    check(code == "0", f"podman pod stop -t {grace} (terminationGracePeriodSeconds): the daemon exited 0")


def mounted_jobs(objects, deployment):
    """The job names of the ConfigMap mounted at /etc/nightshift/jobs.d."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/nightshift/jobs.d"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    (configmap,) = [o for o in objects
                    if o["kind"] == "ConfigMap" and o["metadata"]["name"] == volume["configMap"]["name"]]
    return {yaml.safe_load(text)["job"] for text in configmap["data"].values()}
