/* err.h - Switchyard's error codes.
 *
 * Action functions return 0 or a negative SY_E* code. The codes come from one X-macro list that
 * also generates sy_strerror(), so a code and its message can never drift apart.
 */
#ifndef SY_CORE_ERR_H
#define SY_CORE_ERR_H

#define SY_ERRORS(X)                                                                               \
    X(SY_EINVAL, "invalid argument")                                                               \
    X(SY_ENOMEM, "out of memory")                                                                  \
    X(SY_EPARSE, "parse error")                                                                    \
    X(SY_ETOOBIG, "input too large")                                                               \
    X(SY_ENOTFOUND, "not found")                                                                   \
    X(SY_EIO, "I/O error")                                                                         \
    X(SY_ECONNECT, "connection failed")                                                            \
    X(SY_ETIMEDOUT, "timed out")                                                                   \
    X(SY_ECLOSED, "connection closed")                                                             \
    X(SY_EUNSUPPORTED, "unsupported")                                                              \
    X(SY_ECONFIG, "configuration error")                                                           \
    X(SY_EBUSY, "resource busy")                                                                   \
    X(SY_ENOENDPOINT, "no endpoint available")                                                     \
    X(SY_EREJECTED, "request rejected")                                                            \
    X(SY_ENOPREFILL, "no prefill endpoint available")                                              \
    X(SY_EADMISSION, "request cannot be admitted")                                                 \
    X(SY_EIDLE, "silent past the stream idle limit")                                               \
    X(SY_ESATURATED, "every chosen endpoint's in-flight slot was taken")

enum sy_err {
    SY_OK = 0, /* success */
    SY_ERR_BASE_ = -1000,
#define SY_ERR_ENUM_(name, msg) name,
    SY_ERRORS(SY_ERR_ENUM_)
#undef SY_ERR_ENUM_
        SY_ERR_END_
};

/* Returns a static message for a SY_E* code (or "success"/"unknown error"). */
const char *sy_strerror(int err);

#endif
