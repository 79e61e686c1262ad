#!/usr/bin/env python3
"""Installation tests (suite 'install'), each on a fresh build of the source tree in a temporary
directory (kept, and named, when a check fails):

  prefix       meson setup --prefix=TMP/prefix, ninja, meson install; then
               (a) a C program built with `pkg-config --cflags --libs ffalloc` (PKG_CONFIG_PATH =
                   the installed pkgconfig directory) gets ffalloc blocks from ffa_malloc;
               (b) one built with ffalloc-static.pc (libffalloc.a) gets them from plain malloc,
                   without libffalloc.so, and prints the report at exit with FFALLOC_STATS=1;
               (c) the installed launcher: --version, --help (every option of options.def, the
                   same list as the source tree's tools/ffalloc), `stats` (the report, nonzero
                   counts), `run` (the installed library in /proc/PID/maps, in front of an existing
                   LD_PRELOAD), errors; and the source tree's tools/ffalloc with --lib.
  subproject   a tiny meson project with subprojects/ffalloc -> the source tree, dependency('ffalloc'),
               builds and runs.
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
failures = []


class Abort(Exception):
    pass


def run(cmd, *, env=None, cwd=None, ok=True, what=None):
    """Runs cmd and returns the CompletedProcess; with ok=True a nonzero exit aborts the test."""
    cmd = [str(c) for c in cmd]
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if ok and r.returncode != 0:
        raise Abort(f"{what or 'command'} failed (exit {r.returncode}): {shlex.join(cmd)}\n"
                    f"--- stdout\n{r.stdout[-4000:]}--- stderr\n{r.stderr[-4000:]}")
    return r


def check(cond, message, r=None):
    if cond:
        print(f"ok: {message}")
        return
    detail = ""
    if r is not None:
        detail = f"\n    command: {shlex.join(r.args)} (exit {r.returncode})\n    stdout: {r.stdout[-2000:]!r}" \
                 f"\n    stderr: {r.stderr[-2000:]!r}"
    print(f"FAIL: {message}{detail}")
    failures.append(message)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR") and not k.startswith("FFALLOC_")}
    env.update(extra)
    return env


def fresh_build(args, tmp, *extra):
    """meson setup + ninja of the source tree in tmp/build (only the libraries: no tests, no bench)."""
    build = tmp / "build"
    run([*args.meson, "setup", build, args.source, "--buildtype=plain", "-Dtests=false", "-Dbench=false",
         "--wrap-mode=nodownload", *extra], env=clean_env(), what="meson setup")
    run([*args.ninja, "-C", build], env=clean_env(), what="ninja")
    return build


def options_def_names(source):
    text = (source / "src" / "runtime" / "options.def").read_text()
    return ["FFALLOC_" + n.upper() for n in re.findall(r"^\s*FFA_OPTION\(\s*\w+\s*,\s*(\w+)", text, re.M)]


def project_version(source):
    m = re.search(r"^\s*version\s*:\s*'([^']*)'", (source / "meson.build").read_text(), re.M)
    return m.group(1) if m else None


def option_lines(help_text):
    return [line for line in help_text.splitlines() if line.lstrip().startswith("FFALLOC_")]


def stats_counts(stderr):
    """The numbers of the report's "ffalloc:   name   N" lines."""
    return [int(m.group(1)) for m in re.finditer(r"^ffalloc: .*\S\s+(\d+)\s*$", stderr, re.M)]


def test_prefix(args, tmp):
    prefix = tmp / "prefix"
    build = fresh_build(args, tmp, f"--prefix={prefix}")
    run([*args.meson, "install", "-C", build, "--no-rebuild", "--quiet"], env=clean_env(), what="meson install")

    pcs = sorted(prefix.rglob("ffalloc.pc"))
    check(len(pcs) == 1, f"one ffalloc.pc installed under {prefix} (found {[str(p) for p in pcs]})")
    if not pcs:
        raise Abort("no ffalloc.pc: nothing more to check")
    pcdir = pcs[0].parent
    libdir = pcdir.parent
    launcher = prefix / "bin" / "ffalloc"
    for f in [libdir / "libffalloc.so", libdir / "libffalloc.a", libdir / "libffalloc_prefixed.a",
              prefix / "include" / "ffalloc" / "ffalloc.h", pcdir / "ffalloc-static.pc", launcher]:
        check(f.is_file(), f"installed {f.relative_to(prefix)}")
    check(os.access(launcher, os.X_OK), "bin/ffalloc is executable")

    # (a) the prefixed API through pkg-config.
    env = clean_env(PKG_CONFIG_PATH=str(pcdir))
    r = run([*args.pkg_config, "--variable=prefix", "ffalloc"], env=env, what="pkg-config")
    check(r.stdout.strip() == str(prefix), f"pkg-config finds the installed ffalloc.pc (prefix {r.stdout.strip()})")
    flags = shlex.split(run([*args.pkg_config, "--cflags", "--libs", "ffalloc"], env=env, what="pkg-config").stdout)
    exe = tmp / "prefixed"
    run([*args.cc, HERE / "prefixed.c", "-o", exe, *flags], env=env, what="compiling prefixed.c with ffalloc.pc")
    r = run([exe], env=clean_env(), ok=False)
    check(r.returncode == 0 and "prefixed: ok" in r.stdout, "(a) program built with ffalloc.pc: ffa_malloc's blocks "
          "are ffalloc's, malloc's are not", r)
    r = run([*args.pkg_config, "--variable=preload", "ffalloc"], env=env, what="pkg-config")
    check(r.stdout.strip() == str(libdir / "libffalloc.so"), "ffalloc.pc's preload variable names libffalloc.so")

    # (b) the interposing static library.
    flags = shlex.split(run([*args.pkg_config, "--cflags", "--libs", "ffalloc-static"], env=env,
                            what="pkg-config").stdout)
    exe = tmp / "static"
    run([*args.cc, HERE / "static.c", "-o", exe, *flags], env=env, what="compiling static.c with ffalloc-static.pc")
    r = run([exe], env=clean_env(), ok=False)
    check(r.returncode == 0 and "static: ok" in r.stdout, "(b) program linked with libffalloc.a: its malloc and "
          "strdup are ffalloc's, libffalloc.so is not loaded", r)
    r = run([exe], env=clean_env(FFALLOC_STATS="1"), ok=False)
    check(r.returncode == 0 and "ffalloc: statistics" in r.stderr and any(stats_counts(r.stderr)),
          "(b) FFALLOC_STATS=1 prints the report at exit from the static program", r)

    # (c) the installed launcher.
    version = project_version(args.source)
    r = run([launcher, "--version"], env=clean_env(), ok=False)
    check(r.returncode == 0 and r.stdout.strip() == f"ffalloc {version}", f"ffalloc --version says ffalloc {version}", r)
    r = run([launcher, "--help"], env=clean_env(), ok=False)
    names = options_def_names(args.source)
    listed = [line.split("=")[0].strip() for line in option_lines(r.stdout)]
    check(r.returncode == 0 and names and listed == names,
          f"ffalloc --help lists the options of options.def ({', '.join(names)}; listed {', '.join(listed)})", r)
    tree = run(["sh", args.source / "tools" / "ffalloc", "--help"], env=clean_env(), ok=False)
    check(option_lines(tree.stdout) == option_lines(r.stdout),
          "the source tree's tools/ffalloc --help lists the same options as the installed one", tree)
    r = run([launcher, "lib"], env=clean_env(), ok=False)
    check(r.returncode == 0 and r.stdout.strip() == str(libdir / "libffalloc.so"),
          "ffalloc lib prints the installed library's path", r)

    probe = tmp / "probe"
    run([*args.cc, HERE / "probe.c", "-o", probe, "-ldl"], what="compiling probe.c")
    r = run([probe], env=clean_env(), ok=False)
    check(r.returncode == 0 and "probe: ffalloc inactive" in r.stdout, "the probe alone does not see ffalloc", r)
    r = run([launcher, "stats", "--", probe], env=clean_env(), ok=False)
    counts = stats_counts(r.stderr)
    check(r.returncode == 0 and "probe: ffalloc active" in r.stdout and "ffalloc: statistics" in r.stderr
          and any(counts), f"ffalloc stats -- probe: ffalloc active, report on stderr with nonzero counts "
          f"({sum(1 for c in counts if c)} of {len(counts)})", r)
    r = run([launcher, "run", "--", "sh", "-c", "cat /proc/$$/maps"], env=clean_env(), ok=False)
    check(r.returncode == 0 and str(libdir / "libffalloc.so") in r.stdout,
          "ffalloc run -- sh -c 'cat /proc/$$/maps' shows the installed libffalloc.so", r)
    r = run([launcher, "run", "sh", "-c", 'printf %s "$LD_PRELOAD"'], env=clean_env(LD_PRELOAD="libm.so.6"), ok=False)
    check(r.returncode == 0 and r.stdout == f"{libdir / 'libffalloc.so'}:libm.so.6",
          "ffalloc run puts the library in front of an existing LD_PRELOAD", r)
    r = run([launcher, "run", "--", "sh", "-c", "exit 7"], env=clean_env(), ok=False)
    check(r.returncode == 7, "ffalloc run passes the program's exit status on", r)
    r = run([launcher, "--lib", tmp / "missing.so", "run", "--", "true"], env=clean_env(), ok=False)
    check(r.returncode == 1 and "library not found" in r.stderr, "a missing library is an error", r)
    r = run([launcher, "run"], env=clean_env(), ok=False)
    check(r.returncode == 2, "ffalloc run without a program is a usage error", r)

    # The source tree's launcher, pointed at this build's library.
    r = run(["sh", args.source / "tools" / "ffalloc", "--lib", args.build_lib, "run", "--", probe],
            env=clean_env(), ok=False)
    check(r.returncode == 0 and "probe: ffalloc active" in r.stdout, "tools/ffalloc --lib BUILD_LIB run -- probe", r)


def test_subproject(args, tmp):
    project = tmp / "consumer"
    (project / "subprojects").mkdir(parents=True)
    (project / "subprojects" / "ffalloc").symlink_to(args.source, target_is_directory=True)
    shutil.copy(HERE / "consumer.c", project)
    (project / "meson.build").write_text(
        "project('consumer', 'c', default_options : ['buildtype=plain'])\n"
        "ffalloc = dependency('ffalloc')\n"
        "executable('consumer', 'consumer.c', dependencies : ffalloc)\n")
    build = tmp / "build"
    # --force-fallback-for: an ffalloc.pc installed on this machine must not stand in for the subproject.
    r = run([*args.meson, "setup", build, project, "--force-fallback-for=ffalloc", "--wrap-mode=nodownload"],
            env=clean_env(), what="meson setup of the consumer")
    check("Executing subproject ffalloc" in r.stdout, "the consumer's dependency('ffalloc') comes from the subproject", r)
    run([*args.ninja, "-C", build], env=clean_env(), what="ninja (consumer)")
    r = run([build / "consumer"], env=clean_env(), ok=False)
    check(r.returncode == 0 and "consumer: ok" in r.stdout, "the consumer runs on ffalloc's prefixed API", r)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["prefix", "subproject"])
    ap.add_argument("--source", type=Path, required=True, help="the ffalloc source tree")
    ap.add_argument("--build-lib", type=Path, help="libffalloc.so of the build running the tests")
    ap.add_argument("--meson", default="meson", help="meson command")
    ap.add_argument("--ninja", default="ninja", help="ninja command")
    ap.add_argument("--cc", default="cc", help="C compiler command")
    ap.add_argument("--pkg-config", default="pkg-config", help="pkg-config command")
    args = ap.parse_args()
    for name in ("meson", "ninja", "cc", "pkg_config"):
        setattr(args, name, shlex.split(getattr(args, name)))
    args.source = args.source.resolve()

    tmp = Path(tempfile.mkdtemp(prefix=f"ffalloc-install-{args.which}-"))
    try:
        {"prefix": test_prefix, "subproject": test_subproject}[args.which](args, tmp)
    except (Abort, subprocess.TimeoutExpired) as e:
        print(f"FAIL: {e}")
        failures.append(str(e).splitlines()[0])
    if failures:
        print(f"{len(failures)} check(s) failed; files kept in {tmp}")
        sys.exit(1)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.which}: all checks passed")


if __name__ == "__main__":
    main()
