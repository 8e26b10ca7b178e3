"""The SSH transport end to end against the emulated Pi (a real sshd in a namespace), and its refusals."""
import json
import subprocess
import time

import paramiko
import pytest

from edgekit.compiler import compile_model
from edgekit.compress import Int8StaticConfig
from edgekit.emulators import emulator_for
from edgekit.emulators.netns_sshd import unavailable_reason
from edgekit.errors import DeviceError, InputError
from edgekit.measure.runner import benchmark
from edgekit.modelio import Dataset
from edgekit.profiles import load_profile
from edgekit.transport.ssh import parse_host
from tests.helpers import ROOT, host_state, leaked, run_cli



def _require_board() -> None:
    """Skip (with the reason) where the emulated Pi cannot run: no root, no sshd/iproute2, no .venv-pi."""
    if unavailable_reason():
        pytest.skip(unavailable_reason())
    if not (ROOT / ".venv-pi").exists():
        pytest.skip(".venv-pi missing: run `make setup`")


@pytest.fixture(scope="module")
def int8_art(digits, digits_example, tmp_path_factory):
    model, split = digits
    return compile_model(model, digits_example, "emu-rpi4-x86", tmp_path_factory.mktemp("pi") / "int8",
                         recipe=[Int8StaticConfig(calibration_samples=128)],
                         calibration=Dataset(split.x_train, split.y_train))


@pytest.fixture(scope="module")
def board():
    _require_board()
    with emulator_for(load_profile("emu-rpi4-x86")) as pi:
        yield pi


def test_parse_host():
    assert parse_host("pi@raspberrypi.local") == ("pi", "raspberrypi.local", 22)
    assert parse_host("pi@10.0.0.5:2222") == ("pi", "10.0.0.5", 2222)
    assert parse_host("pi@[fe80::1]:2200") == ("pi", "fe80::1", 2200)
    for bad in ("raspberrypi", "pi@host:x", "pi@host:70000", "@host"):
        with pytest.raises(InputError):
            parse_host(bad)


@pytest.mark.emulator
def test_cli_bench_int8_tflite_on_emulated_pi(int8_art, digits_npz, digits):
    """`edgekit bench ART --target emu-rpi4-x86` starts the emulated Pi itself, measures there, and removes it."""
    _require_board()
    before = host_state()
    proc = run_cli("bench", int8_art.path, "--target", "emu-rpi4-x86", "--eval", digits_npz[1], "--runs", "30",
                   "--cooldown", "0.001", "--json", "--min-cosine", "0.999")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    target = report["target"]
    assert target["transport"] == "ssh" and target["emulator"] == "netns-sshd"
    device = target["device_python"]
    assert device["tflite_runtime"] == "2.14.0" and device["numpy"].startswith("1.") and device["executorch"] is None
    assert report["artifact"]["format"] == "tflite" and report["latency_ms"]["runs"] == 30
    _, split = digits
    from edgekit.export.tflite import host_runner
    host_acc = float((host_runner(int8_art.model_file)([split.x_test])[0].argmax(1) == split.y_test).mean())
    assert abs(report["accuracy"]["top1"] - host_acc) <= 0.01
    assert report["memory"]["limit_bytes"] == load_profile("rpi4").hardware.ram_bytes
    for key in ("emulator_start_s", "ssh_connect_s", "setup_s", "upload_s", "agent_start_s"):
        assert 0 < report["deploy"][key] < 30, key
    assert len(report["thermal"]["samples"]) == 10 and report["thermal"]["cooldown_s"] == 0.001
    assert "cpu_clock_hz" in report["thermal"]["samples"][0]
    # only what this command left: the other pytest worker may run a board meanwhile, or start one reaping
    assert leaked(before) == {"netns": set(), "cgroups": set(), "links": set()}, "the Pi was not torn down"


def _bench(art, board, tmp_path, **options):
    opts = {**board.transport_options(), "remote_root": str(tmp_path / "device"), **options}
    return benchmark(art, "rpi4", runs=5, warmup=1, transport_options=opts)


@pytest.mark.emulator
class TestAgainstBoard:
    @pytest.fixture(autouse=True)
    def _skip(self):
        _require_board()

    def test_real_pi_path_with_host_and_cached_setup(self, int8_art, board, tmp_path):
        first = _bench(int8_art, board, tmp_path)
        second = _bench(int8_art, board, tmp_path)
        assert first["target"]["setup_cached"] is False and second["target"]["setup_cached"] is True
        assert second["deploy"]["setup_s"] < first["deploy"]["setup_s"]
        assert first["fidelity"]["vs_host"]["cosine"] > 0.999
        device = tmp_path / "device"
        assert [p.name for p in device.iterdir() if p.name.startswith("ws-")] == [], "workspace not removed"
        assert len(list(device.glob("agent-*/agent.py"))) == 1

    def test_unknown_host_key_refused_then_trusted(self, int8_art, board, tmp_path):
        known = tmp_path / "known_hosts"
        opts = board.transport_options()
        base = ["bench", int8_art.path, "--target", "rpi4", "--runs", "3", "--host", opts["host"],
                "--identity", opts["identity"], "--known-hosts", known, "--device-python", opts["python"], "--json"]
        refused = run_cli(*base)
        assert refused.returncode == 3 and "unknown host key" in refused.stderr
        fingerprint = subprocess.run(["ssh-keygen", "-lf", str(board.scratch / "host_key.pub")], capture_output=True,
                                     text=True).stdout.split()[1]
        assert fingerprint in refused.stderr, "the refusal should show the offered key's fingerprint"
        assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        assert not known.exists()
        trusted = run_cli(*base, "--trust-host-key")
        assert trusted.returncode == 0, trusted.stderr
        key_line = open(opts["known_hosts"]).read().split()
        assert known.read_text().split() == key_line, "the trusted key was not saved as the device's key"
        again = run_cli(*base)
        assert again.returncode == 0, again.stderr

    def test_changed_host_key_refused_even_when_trusting(self, int8_art, board, tmp_path):
        other = paramiko.Ed25519Key.from_private_key_file(board.identity)  # any other ed25519 key
        known = tmp_path / "known_hosts"
        known.write_text(f"{board.host} ssh-ed25519 {other.get_base64()}\n")
        with pytest.raises(DeviceError, match="does NOT match"):
            _bench(int8_art, board, tmp_path, known_hosts=str(known), trust_host_key=True)

    def test_wrong_key_is_an_auth_error(self, int8_art, board, tmp_path):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "wrong")], check=True)
        opts = board.transport_options()
        proc = run_cli("bench", int8_art.path, "--target", "rpi4", "--host", opts["host"], "--identity",
                       tmp_path / "wrong", "--known-hosts", opts["known_hosts"])
        assert proc.returncode == 3 and "authentication" in proc.stderr and "Traceback" not in proc.stderr

    def test_unreachable_host_fails_fast(self, int8_art, board, tmp_path):
        opts = board.transport_options()
        t0 = time.monotonic()
        proc = run_cli("bench", int8_art.path, "--target", "rpi4", "--host", f"root@{board.host}:2",
                       "--identity", opts["identity"], "--known-hosts", opts["known_hosts"])
        assert proc.returncode == 3 and "cannot reach" in proc.stderr and "Traceback" not in proc.stderr
        assert time.monotonic() - t0 < 30
        t0 = time.monotonic()  # an address nobody answers: the connect timeout bounds it
        with pytest.raises(DeviceError, match="cannot reach"):
            _bench(int8_art, board, tmp_path, host="root@192.0.2.1", connect_timeout=1)
        assert time.monotonic() - t0 < 5

    def test_tampered_upload_is_refused(self, int8_art, board, tmp_path, monkeypatch):
        real_put = paramiko.SFTPClient.put

        def tampering_put(self, local, remote, *args, **kwargs):  # the bytes change between host and device
            attrs = real_put(self, local, remote, *args, **kwargs)
            if remote.endswith(".tflite"):
                with self.open(remote, "ab") as f:
                    f.write(b"\0")
            return attrs
        monkeypatch.setattr(paramiko.SFTPClient, "put", tampering_put)
        with pytest.raises(DeviceError, match="model.tflite has a different sha256 on the device"):
            _bench(int8_art, board, tmp_path)
        assert not list((tmp_path / "device").glob("ws-*")), "the refused workspace was left on the device"

    def test_connection_dropped_mid_upload(self, int8_art, board, tmp_path, monkeypatch):
        """Part of the model arrives, then the SSH connection drops: a device error, the partial upload never
        under the name the agent loads, and the next run deploys afresh and succeeds."""
        real_put = paramiko.SFTPClient.put

        def dropping_put(self, local, remote, *args, **kwargs):
            if remote.endswith(".tflite"):
                with self.open(remote, "wb") as f:
                    f.write(open(local, "rb").read()[:1000])
                self.get_channel().get_transport().close()  # the link goes down mid-file
            return real_put(self, local, remote, *args, **kwargs)
        monkeypatch.setattr(paramiko.SFTPClient, "put", dropping_put)
        t0 = time.monotonic()
        with pytest.raises(DeviceError):
            _bench(int8_art, board, tmp_path)
        assert time.monotonic() - t0 < 30
        device = tmp_path / "device"
        assert list(device.glob("ws-*/artifact")) == [], "a partial upload was put where the agent loads from"
        monkeypatch.setattr(paramiko.SFTPClient, "put", real_put)
        report = _bench(int8_art, board, tmp_path)
        assert report["fidelity"]["vs_host"]["cosine"] > 0.999

    def test_missing_runtime_is_named(self, int8_art, board, tmp_path):
        with pytest.raises(DeviceError, match="missing runtime on the device: numpy"):
            _bench(int8_art, board, tmp_path, python="/usr/bin/python3")  # the system Python: no numpy

    def test_an_agent_killed_by_a_signal_is_reported_with_it(self, board, tmp_path):
        """A runtime crashing in native code on the board: the host names the signal and the crash, not the
        runtime's last log line (the shell around the agent reports how it ended; paramiko drops exit-signal)."""
        from edgekit.transport import LinkClosed, make_transport
        from tests.transport.test_channel import CRASHING_RUNTIME
        opts = {**board.transport_options(), "remote_root": str(tmp_path / "device")}
        with make_transport(load_profile("rpi4"), None, opts) as link:
            channel = link.spawn([opts["python"], "-c", CRASHING_RUNTIME])
            channel.send(b"load")
            with pytest.raises(LinkClosed) as info:
                channel.recv(30)
        assert "killed by SIGSEGV" in str(info.value) and "Fatal Python error" in str(info.value)
        assert "INFO" not in str(info.value)

    def test_disk_full_is_named(self, int8_art, board, tmp_path):
        small = tmp_path / "device"
        small.mkdir()
        # A small filesystem on the board: mounted inside sshd's own mount namespace (`ip netns exec` gave it
        # one, and / is private here, so a mount made on the host would not reach it).
        board_mounts = ["nsenter", "-t", str(board._sshd.pid), "-m"]
        subprocess.run([*board_mounts, "mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=True)
        try:
            with pytest.raises(DeviceError, match="disk full on the device"):
                _bench(int8_art, board, tmp_path)
        finally:
            subprocess.run([*board_mounts, "umount", str(small)], check=True)


def test_ssh_target_without_host_says_what_to_pass(int8_art):
    proc = run_cli("bench", int8_art.path, "--target", "rpi4")
    assert proc.returncode == 1 and "--host" in proc.stderr
