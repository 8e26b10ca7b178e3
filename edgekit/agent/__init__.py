"""The target agent: agent.py runs on the device (standalone: stdlib, numpy and a runtime only). Its host side,
the session that speaks its protocol, is edgekit/session/agent.py."""
from pathlib import Path

AGENT_SCRIPT = Path(__file__).with_name("agent.py")
