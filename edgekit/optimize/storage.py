"""Where a search keeps its results: the -o folder (report, chosen artifact, candidates and, by default, the study)
and the Optuna storage. Both are checked before the model is loaded, so a refused folder or a storage that cannot be
opened costs a second, not a search. Nothing here imports torch: the command's cheap checks stay cheap.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..artifact import check_output_dir, check_writable
from ..errors import InputError
from ..version import __version__

# Written into every folder a search writes: what makes an -o recognizably an earlier search's (resumed, replaced),
# while a folder holding anything else (a user's report.json or best/) is refused unless --force.
MARKER = "edgekit-optimize.json"
STUDY_DB = "study.db"


def default_storage(outdir: Path) -> str:
    return f"sqlite:///{(outdir / STUDY_DB).resolve()}"


def check_outdir(outdir: str | Path, force: bool = False) -> Path:
    """An -o that is new, empty or an earlier search's folder; anything else refused unless `force`. A search
    writes into the folder (compile replaces its folder from beside it), so an existing folder must itself be
    writable. Writes nothing lasting (claim_outdir does, once every other check has passed)."""
    outdir = check_output_dir(outdir, force, marker=MARKER, noun="optimize folder", flag="-o", example="out/optimize")
    check_writable(outdir, noun="optimize folder", flag="-o")
    return outdir


def claim_outdir(outdir: Path) -> None:
    """Create the folder and (re)write its marker. The write is also the proof that the folder itself can be
    written: check_outdir probes the place above it, and an earlier search's folder may since be read-only."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        (outdir / MARKER).write_text(json.dumps({"written_by": "edgekit optimize", "edgekit_version": __version__})
                                     + "\n")
    except OSError as exc:
        raise InputError(f"cannot write the optimize folder {outdir}: {exc.strerror}",
                         "pass -o a folder you can write") from None


def prepare_outdir(outdir: str | Path, force: bool = False) -> Path:
    """check_outdir, then claim_outdir: for callers with no slow work between the two."""
    outdir = check_outdir(outdir, force)
    claim_outdir(outdir)
    return outdir


def check_storage(storage: str | None, outdir: Path, study_name: str, must_exist: bool) -> str:
    """The storage URL the search will use (`storage`, else a database in `outdir`), opened once now so that a URL
    that cannot work is refused before any work. `must_exist` (--trials 0, which reports on stored trials): the
    study must already be there."""
    if storage is None:
        url = default_storage(outdir)
        if not must_exist:
            return url  # created in the folder once it is claimed
        if not (outdir / STUDY_DB).is_file():
            raise _no_study(study_name, str(outdir / STUDY_DB))
        _open(url, study_name, must_exist, f"the study database {outdir / STUDY_DB}")
        return url
    if storage.strip() in ("sqlite://", "sqlite:///:memory:"):
        raise InputError(f"--storage {storage} keeps the study in memory, where neither the report nor other "
                         "workers can see it", "give a database file, e.g. --storage sqlite:///out/study.db")
    _open(storage, study_name, must_exist, f"--storage {_shown(storage)}")
    return storage


def _open(url: str, study_name: str, must_exist: bool, label: str) -> None:
    import optuna
    try:
        names = optuna.study.get_all_study_names(storage=optuna.storages.RDBStorage(url))
    except ImportError:  # Optuna's way of saying the database's Python driver is missing
        raise InputError(f"{label} cannot be opened: no Python driver for its database is installed",
                         "install the driver (e.g. psycopg2 for postgresql), or use sqlite:///out/study.db") from None
    except Exception as exc:  # SQLAlchemy, the database drivers and Optuna raise many types; each means: unusable
        raise InputError(f"{label} cannot be opened: {_first_line(exc)}",
                         "give an SQLAlchemy database URL, e.g. sqlite:///out/study.db") from None
    if must_exist and study_name not in names:
        raise _no_study(study_name, label.removeprefix("--storage "), names)


def _no_study(study_name: str, where: str, names: list[str] | None = None) -> InputError:
    held = f" (it holds {', '.join(repr(n) for n in names)})" if names else ""
    return InputError(f"--trials 0 reports on a stored search, and there is no study '{study_name}' in {where}{held}",
                      "run a search with --trials N first, or pass the --storage and --study-name of an earlier one")


def _shown(url: str) -> str:
    """The URL as safe to print: a password replaced by ***."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: nothing in it to hide
        return repr(url)


def _first_line(exc: BaseException) -> str:
    """An exception's first line, without SQLAlchemy's '(sqlite3.OperationalError)' prefix."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(") ", 1)[1] if text.startswith("(") and ") " in text else text
