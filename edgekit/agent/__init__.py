"""The target agent (agent.py runs on the device) and the host-side client that talks to it."""
from pathlib import Path

AGENT_SCRIPT = Path(__file__).with_name("agent.py")
