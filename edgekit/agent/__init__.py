"""The target agent: agent.py runs on the device (standalone: stdlib, numpy and a runtime only), with
ina_sampler.py beside it (the INA219/INA260 sampler a bench with `--meter ina219:...` starts; it imports only numpy
and smbus2). Its host side, the session that speaks its protocol, is edgekit/session/agent.py."""
import hashlib
from pathlib import Path

AGENT_SCRIPT = Path(__file__).with_name("agent.py")
INA_SAMPLER = Path(__file__).with_name("ina_sampler.py")
# Every file the installer puts in the agent's directory (agent.py imports the others from beside itself).
AGENT_FILES = (AGENT_SCRIPT, INA_SAMPLER)


def agent_files_digest(files: tuple[Path, ...] = AGENT_FILES) -> str:
    """The sha256 that names the agent's directory on a device: of each file's name and content, so a change to
    any one of them installs a fresh directory."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
