"""`edgekit demo --reports DIR` writes only into a folder of its own: one holding a user's files (a digits_test.npz, an
optimize/ folder) is refused before the digits CNN is trained, and nothing in it is touched."""
from tests.cli.helpers import assert_one_line_error
from tests.helpers import run_cli


def test_a_reports_folder_with_the_users_files_is_refused_before_training(tmp_path):
    reports = tmp_path / "reports"
    (reports / "optimize").mkdir(parents=True)
    (reports / "optimize" / "notes.txt").write_text("mine")
    (reports / "digits_test.npz").write_bytes(b"mine")
    result = run_cli("demo", "--reports", reports, timeout=60)
    assert_one_line_error(result, 1, "--reports folder")
    assert "is not empty and is not an edgekit demo folder" in result.stderr and "--force" in result.stderr
    assert (reports / "digits_test.npz").read_bytes() == b"mine"
    assert (reports / "optimize" / "notes.txt").read_text() == "mine"
