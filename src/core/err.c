/* err.c - messages for the SY_E* codes, generated from the X-macro list in err.h. */
#include "core/err.h"

const char *sy_strerror(int err)
{
    switch (err) {
    case SY_OK: return "success";
#define SY_ERR_CASE_(name, msg)                                                                    \
    case name: return msg;
        SY_ERRORS(SY_ERR_CASE_)
#undef SY_ERR_CASE_
    default: return "unknown error";
    }
}
