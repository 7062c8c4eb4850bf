"""PEP 517 backend for `pip install ./agent/python`, standard library only.

Why not setuptools: these machines install offline, and setuptools can only
build a wheel with the separate `wheel` package before setuptools 70.1
(Python 3.11 here has setuptools 65 and no `wheel`; 3.12 and 3.13 have no
setuptools at all). This backend needs nothing but the interpreter and a C
compiler, so pip's isolated build (requires = []) works offline too.

It compiles the C sources the CMake build links into _fleetprof, from the
repository itself: agent/python/*.c, and the agent library's sources
(agent/src, wire, common: all their .c files, as agent/CMakeLists.txt takes
them), with the interpreter's compiler settings (sysconfig), and links them
with msgpack-c, xxhash, libdw and libelf (pkg-config when present). Only
PyInit__fleetprof is exported (a version script), like the CMake build's
--exclude-libs. The sdist carries those sources under csrc/ so that it
builds away from the repository.
"""

import base64
import concurrent.futures
import hashlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

NAME = "fleetprof"
SUMMARY = ("fleetprof's Python agent: cProfile's numbers for every process "
           "of a fleet")
HERE = os.path.dirname(os.path.abspath(__file__))
PKG_DIR = os.path.dirname(HERE)  # agent/python (or the unpacked sdist)
AGENT_DIRS = ("agent/src", "wire", "common")  # the agent library's .c files
INCLUDE_DIRS = ("agent/include", "agent/src", "wire", "wire/include",
                "common/include")
# pkg-config name -> libraries when pkg-config or the .pc file is missing.
LIBS = (("msgpack", ["-lmsgpackc"]), ("libxxhash", ["-lxxhash"]),
        ("libdw", ["-ldw"]), ("libelf", ["-lelf"]))


def _source_root():
    """The repository (agent/python/../..) or the sdist's copy of it."""
    sdist = os.path.join(PKG_DIR, "csrc")
    if os.path.isdir(sdist):
        return sdist
    return os.path.dirname(os.path.dirname(PKG_DIR))


def _version(root):
    with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"project\(\s*fleetprof\s+VERSION\s+([0-9.]+)",
                      f.read())
    if m is None:
        raise RuntimeError("no fleetprof version in %s/CMakeLists.txt" % root)
    return m.group(1)


def _c_sources(root):
    srcs = sorted(os.path.join(PKG_DIR, f) for f in os.listdir(PKG_DIR)
                  if f.endswith(".c"))
    for d in AGENT_DIRS:
        full = os.path.join(root, d)
        srcs += sorted(os.path.join(full, f) for f in os.listdir(full)
                       if f.endswith(".c"))
    return srcs


def _pkg_config(name, what):
    try:
        p = subprocess.run(["pkg-config", what, name], capture_output=True,
                           text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return shlex.split(p.stdout)


def _tag():
    impl = "cp" if sys.implementation.name == "cpython" else "py"
    py = "%s%d%d" % (impl, sys.version_info[0], sys.version_info[1])
    abi = py + getattr(sys, "abiflags", "")
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "%s-%s-%s" % (py, abi, plat)


def _run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))


def _build_extension(root, tmp):
    """Compiles and links _fleetprof in tmp; returns its path."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    ccshared = shlex.split(sysconfig.get_config_var("CCSHARED") or "-fPIC")
    ldshared = shlex.split(sysconfig.get_config_var("LDSHARED") or
                           "cc -shared")
    paths = sysconfig.get_paths()
    incs = ["-I" + os.path.join(root, d) for d in INCLUDE_DIRS]
    incs += ["-I" + paths["include"], "-I" + paths["platinclude"]]
    cflags, libs = [], []
    for name, fallback in LIBS:
        cflags += _pkg_config(name, "--cflags") or []
        libs += _pkg_config(name, "--libs") or fallback
    flags = (["-std=gnu11", "-O2", "-g", "-DNDEBUG", "-fvisibility=hidden",
              "-fno-strict-aliasing"] + ccshared + incs + cflags)
    srcs = _c_sources(root)
    objs = [os.path.join(tmp, "%d_%s.o" % (i, os.path.basename(s)[:-2]))
            for i, s in enumerate(srcs)]
    jobs = max(1, min(len(srcs), os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        list(ex.map(lambda so: _run(cc + flags + ["-c", so[0], "-o",
                                                   so[1]]),
                    zip(srcs, objs)))
    vscript = os.path.join(tmp, "exports.map")
    with open(vscript, "w") as f:
        f.write("{ global: PyInit__fleetprof; local: *; };\n")
    out = os.path.join(tmp, "_fleetprof" +
                       sysconfig.get_config_var("EXT_SUFFIX"))
    _run(ldshared + objs + ["-o", out, "-Wl,--version-script=" + vscript] +
         libs + ["-lpthread", "-ldl"])
    return out


def _metadata(version):
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
            "Requires-Python: >=3.8\n" % (NAME, version, SUMMARY))


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return "%s,sha256=%s,%d" % (path, digest.rstrip(b"=").decode(),
                                len(data))


# ---- PEP 517 hooks ----

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None):
    root = _source_root()
    version = _version(root)
    tag = _tag()
    dist_info = "%s-%s.dist-info" % (NAME, version)
    files = []  # (path in the wheel, bytes)
    pkg = os.path.join(PKG_DIR, NAME)
    for f in sorted(os.listdir(pkg)):
        if f.endswith(".py"):
            with open(os.path.join(pkg, f), "rb") as fp:
                files.append(("%s/%s" % (NAME, f), fp.read()))
    tmp = tempfile.mkdtemp(prefix="fleetprof-build-")
    try:
        ext = _build_extension(root, tmp)
        with open(ext, "rb") as fp:
            files.append(("%s/%s" % (NAME, os.path.basename(ext)),
                          fp.read()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    files.append((dist_info + "/METADATA", _metadata(version).encode()))
    files.append((dist_info + "/WHEEL", (
        "Wheel-Version: 1.0\nGenerator: fleetprof_build\n"
        "Root-Is-Purelib: false\nTag: %s\n" % tag).encode()))
    record = [_record_line(p, d) for p, d in files]
    record.append(dist_info + "/RECORD,,")
    files.append((dist_info + "/RECORD", ("\n".join(record) + "\n").encode()))
    name = "%s-%s-%s.whl" % (NAME, version, tag)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for path, data in files:
            z.writestr(path, data)
    return name


def build_sdist(sdist_directory, config_settings=None):
    """agent/python as it is, plus the agent library's sources and headers
    under csrc/ (the repository's layout), so the sdist builds alone."""
    root = _source_root()
    version = _version(root)
    base = "%s-%s" % (NAME, version)
    name = base + ".tar.gz"

    def add_tree(tar, src, arc, keep):
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = sorted(d for d in dirnames
                                 if d != "__pycache__" and d != "csrc")
            for f in sorted(filenames):
                if keep(f):
                    full = os.path.join(dirpath, f)
                    tar.add(full, os.path.join(
                        arc, os.path.relpath(full, src)))

    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        add_tree(tar, PKG_DIR, base, lambda f: f.endswith(
            (".c", ".h", ".py", ".toml")))
        for d in set(AGENT_DIRS) | set(INCLUDE_DIRS):
            add_tree(tar, os.path.join(root, d),
                     "%s/csrc/%s" % (base, d),
                     lambda f: f.endswith((".c", ".h")))
        tar.add(os.path.join(root, "CMakeLists.txt"),
                "%s/csrc/CMakeLists.txt" % base)  # for the version
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = _metadata(version).encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return name
