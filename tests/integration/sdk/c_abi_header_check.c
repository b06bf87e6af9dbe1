/* Compiled as C (not C++): proves parley_sdk.h is a valid C header and its types and functions
 * are usable from C. The SDK test calls parley_c_header_check() to link it in. */
#include "parley_sdk.h"

int parley_c_header_check(void);

int parley_c_header_check(void) {
  parley_options opts;
  parley_callbacks callbacks = {0};
  char cmid[27];
  parley_options_init(&opts);
  (void)callbacks;
  if (opts.port != 1883) return 1;
  if (parley_new_cmid(cmid, sizeof cmid) != PARLEY_OK) return 2;
  if (parley_client_new(NULL, NULL) != NULL) return 3;
  if (parley_connect(NULL, NULL, NULL) != PARLEY_ERR_INVALID_ARGUMENT) return 4;
  return 0;
}
