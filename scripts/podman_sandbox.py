"""A podman of the test's own, under one folder of the build tree (build/container
by default): its containers.conf, its storage (images, the layer cache of
`podman build`, volumes) and the Debian base images, so that the test works the
same on a fresh Debian 12 machine and on the project's machines, and a second
run reuses what the first one built. Used by scripts/test-container.

Why each setting:
- runtime = "runc": crun refuses the hybrid cgroups of some hosts (the
  project's machines), runc runs everywhere.
- explicit ulimits within the host's hard limits: podman's defaults (nofile
  1048576) exceed them on some hosts and every container start fails.
- cgroupfs and a file events log: no systemd or journald needed (CI machines
  and containers may have neither).
- no registry is reachable from the test machines: debian:bookworm and
  debian:bookworm-slim are made here with debootstrap (minbase) from the
  Debian mirror apt uses, once, and kept in this storage."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

BASE = "docker.io/library/debian:bookworm"
BASE_SLIM = "docker.io/library/debian:bookworm-slim"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PodmanSandbox:
    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.env = dict(os.environ)
        self._write_configs()

    def _write_configs(self):
        conf = os.path.join(self.folder, "containers.conf")
        with open(conf, "w") as f:
            f.write('[containers]\n'
                    'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
                    '[engine]\n'
                    'runtime = "runc"\n'
                    'cgroup_manager = "cgroupfs"\n'
                    'events_logger = "file"\n')
        storage = os.path.join(self.folder, "storage.conf")
        with open(storage, "w") as f:
            f.write('[storage]\n'
                    'driver = "overlay"\n'
                    f'graphroot = "{self.folder}/storage"\n'
                    f'runroot = "{self.folder}/run"\n')
        self.env["CONTAINERS_CONF"] = conf
        self.env["CONTAINERS_STORAGE_CONF"] = storage
        # A podman-env sourced before must not point podman elsewhere.
        self.env.pop("CONTAINER_HOST", None)

    def run(self, *args, check=True, capture=True, timeout=600):
        result = subprocess.run(["podman", *args], env=self.env, text=True, timeout=timeout,
                                capture_output=capture)
        if check and result.returncode != 0:
            out = f"{result.stdout}{result.stderr}" if capture else ""
            raise SystemExit(f"podman {' '.join(args)} failed ({result.returncode}):\n{out}")
        return result

    def ensure_base_images(self):
        """debian:bookworm(-slim) in this storage; debootstraps them the first
        time (the one slow step a fresh machine pays for them)."""
        if self.run("image", "exists", BASE_SLIM, check=False).returncode == 0:
            return
        started = time.monotonic()
        mirror = apt_mirror()
        print(f"== debootstrap --variant=minbase bookworm from {mirror} (once: kept in {self.folder})",
              flush=True)
        root = tempfile.mkdtemp(prefix="rootfs-", dir=self.folder)
        log = os.path.join(self.folder, "debootstrap.log")
        try:
            # debootstrap's dpkg runs in the new root and reads its config
            # there: no fsync per file during debootstrap either.
            write_unsafe_io(root)
            with open(log, "w") as out:
                done = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root, mirror],
                                      stdout=out, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                with open(log) as f:
                    raise SystemExit(f"debootstrap failed:\n{f.read()[-3000:]}")
            like_the_official_image(root)
            tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
            # The official image's PATH and CMD (kube play gives a container no PATH of its own).
            imported = subprocess.run(["podman", "import", "-q",
                                       "--change", f"ENV PATH={DEFAULT_PATH}",
                                       "--change", 'CMD ["bash"]', "-", BASE], stdin=tar.stdout,
                                      env=self.env, capture_output=True, text=True)
            tar.wait()
            if imported.returncode != 0 or tar.returncode != 0:
                raise SystemExit(f"podman import failed: {imported.stderr}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
        # One image for both: the slim one differs upstream only by dropped docs.
        self.run("tag", BASE, BASE_SLIM)
        print(f"   base images made in {time.monotonic() - started:.0f} s", flush=True)


def apt_mirror():
    """The Debian mirror this machine's apt uses."""
    sources = "/etc/apt/sources.list.d/debian.sources"
    if os.path.exists(sources):
        with open(sources) as f:
            for line in f:
                if line.startswith("URIs:") and line.split()[1].rstrip("/").endswith("/debian"):
                    return line.split()[1]
    if os.path.exists("/etc/apt/sources.list"):
        with open("/etc/apt/sources.list") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[0] == "deb" and fields[1].startswith("http"):
                    return fields[1]
    raise SystemExit("no Debian mirror in apt's sources")


def write_unsafe_io(root):
    os.makedirs(os.path.join(root, "etc", "dpkg", "dpkg.cfg.d"), exist_ok=True)
    with open(os.path.join(root, "etc", "dpkg", "dpkg.cfg.d", "unsafe-io"), "w") as f:
        f.write("force-unsafe-io\n")


def like_the_official_image(root):
    """What the registry's debian image has and a bare debootstrap lacks: apt
    reaching the mirrors (and proxy) this machine's apt reaches, and dpkg
    without an fsync per file (the official image's force-unsafe-io: a
    build layer that a crash would throw away needs no crash safety)."""
    apt = os.path.join(root, "etc", "apt")
    if os.path.exists("/etc/apt/sources.list.d/debian.sources"):
        shutil.copy("/etc/apt/sources.list.d/debian.sources", os.path.join(apt, "sources.list.d"))
        open(os.path.join(apt, "sources.list"), "w").close()
    elif os.path.exists("/etc/apt/sources.list"):
        shutil.copy("/etc/apt/sources.list", os.path.join(apt, "sources.list"))
    dump = subprocess.run(["apt-config", "dump"], capture_output=True, text=True).stdout
    wanted = ("Acquire::http::Proxy ", "Acquire::https::Proxy ", "Acquire::Check-Valid-Until ",
              "Acquire::Check-Date ")
    with open(os.path.join(apt, "apt.conf.d", "90like-the-host"), "w") as f:
        f.write("".join(line + "\n" for line in dump.splitlines() if line.startswith(wanted)))
    write_unsafe_io(root)
    with open(os.path.join(apt, "apt.conf.d", "90no-languages"), "w") as f:
        f.write('Acquire::Languages "none";\n')


if __name__ == "__main__":
    # scripts/podman_sandbox.py FOLDER podman ARGS...: podman on the test's storage (to look around).
    sandbox = PodmanSandbox(sys.argv[1])
    os.execvpe(sys.argv[2], sys.argv[2:], sandbox.env)
