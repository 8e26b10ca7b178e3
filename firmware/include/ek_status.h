/* Status codes returned by every firmware function and sent in every reply frame.
 * The host mirror is edgekit/session/firmware_protocol.py (Status); tests/session/test_firmware_protocol.py checks the two agree. */
#ifndef EK_STATUS_H
#define EK_STATUS_H

#include <stdint.h>

typedef int32_t ek_status;

#define EK_OK                0  /* success */
#define EK_E_BAD_CRC         1  /* frame CRC did not match: resend */
#define EK_E_BAD_LENGTH      2  /* payload longer than EK_MAX_PAYLOAD or shorter than the command needs */
#define EK_E_UNKNOWN_CMD     3  /* command id not known to this firmware */
#define EK_E_BAD_ARG         4  /* offset/length outside the tensor, zero run count, ... */
#define EK_E_NOT_READY       5  /* model failed to prepare; no inference possible */
#define EK_E_BAD_PARAMS      6  /* a kernel rejected its parameters (found in prepare) */
#define EK_E_SCRATCH         7  /* the planned scratch buffer is smaller than the kernel needs */
#define EK_E_UNSUPPORTED     8  /* an op configuration this firmware does not implement */
#define EK_E_NO_PROFILE      9  /* PROFILE before any profiled RUN completed (or the model has no profiled eval) */
#define EK_E_PROFILE_FULL   10  /* the last profiled RUN made more kernel calls than the model's table holds */

#endif
