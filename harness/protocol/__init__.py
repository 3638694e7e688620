"""The wire protocol: encode a Case as request bytes, decode response bytes into a CaseResult.

``wire`` mirrors ``driver_src/include/clfstest_proto.h``; ``ntstatus`` names NTSTATUS codes.
"""

from harness.protocol.decode import RequestRejected, decode_response
from harness.protocol.encode import encode_request

__all__ = ["encode_request", "decode_response", "RequestRejected"]
