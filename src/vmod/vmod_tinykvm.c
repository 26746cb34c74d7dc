/*
 * vmod_tinykvm: the VCL face of the TinyKVM engine.
 */

#include "config.h"

#include <vdef.h>
#include <vrt.h>
#include <vas.h>
#include <miniobj.h>

#include "vcc_tinykvm_if.h"

VCL_STRING
vmod_version(VRT_CTX)
{
	CHECK_OBJ_NOTNULL(ctx, VRT_CTX_MAGIC);
	return (PACKAGE_VERSION);
}
