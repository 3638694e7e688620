"""The payload check of a read: the bytes CLFS returned against those appended at that LSN.

The driver's interpreter compares them (driver_src/common/ct_interp.c check_payload) and reports
payload_check (0 match, 1 a byte differs, 2 the size differs, 3 not written by this request) with
the first differing offset and the expected and observed bytes. A read a scenario expects to
succeed must return what was written, unless the scenario tests payload_check itself.
"""

from __future__ import annotations

from harness.protocol.results import StepResult
from harness.scenario.model import Step

MATCH, DIFFERS, SIZE_DIFFERS = 0, 1, 2


def describe(outputs: dict) -> str:
    """One line about a read's payload check."""
    check = outputs.get("payload_check")
    if check == DIFFERS:
        return (f"byte {outputs.get('payload_diff_offset')} differs: expected 0x{outputs.get('payload_expected', 0):02X}, "
                f"observed 0x{outputs.get('payload_observed', 0):02X}")
    if check == SIZE_DIFFERS:
        return f"size {outputs.get('size')} differs from the size appended (first {outputs.get('payload_diff_offset')} bytes match)"
    if check == MATCH:
        return "bytes as appended"
    return "no record of this request at that LSN: not compared"


def implicit_failure(step: Step, result: StepResult) -> str | None:
    """What is wrong with a read's bytes when the scenario did not state payload_check, else None."""
    if "payload_check" not in result.outputs or any(o == "payload_check" for o, _ in step.expect.outputs):
        return None
    if result.outputs["payload_check"] in (DIFFERS, SIZE_DIFFERS):
        return describe(result.outputs)
    return None
