/*
 * fuzz_config.c - libFuzzer target: any bytes as pipeline.yaml and as
 * flows.yaml.  The parser, the schema validator and the conversion must
 * return an error or a config, never crash, leak or read out of bounds.
 *
 *   make fuzz && mkdir -p /tmp/fg-corpus &&
 *   tests/fuzz/fuzz_config-libfuzzer -max_total_time=60 /tmp/fg-corpus \
 *       tests/config/valid tests/config/invalid templates
 *
 * (libFuzzer adds the inputs it finds to the first directory: keep that a
 * scratch one.)
 *
 * Built without libFuzzer (tests/fuzz/replay.c supplies main), the same
 * function is run by 'make check' over those seed files.
 */
#include <stddef.h>
#include <stdint.h>

#include <git2.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_config *cfg = NULL;

	if (fg_config_parse(&cfg, (const char *)data, size, "fuzz.yaml", NULL,
	    0, NULL, &d) == 0 && cfg == NULL)
		__builtin_trap();	/* success must give a config */
	if (cfg == NULL && fg_diags_count(&d) == 0)
		__builtin_trap();	/* failure must say why */
	fg_config_free(cfg);
	fg_diags_release(&d);
	fg_config_check_flows((const char *)data, size, "fuzz.flows.yaml", &d);
	fg_diags_release(&d);
	return 0;
}
