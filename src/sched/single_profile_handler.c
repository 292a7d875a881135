/* single_profile_handler.c - llm-d's `single-profile-handler`: runs the one scheduling profile.
 *
 * The pipeline (sched.c) runs profiles[0] when this handler is configured; the loader refuses a
 * config that pairs it with more than one profile. It has no parameters and no per-request hooks:
 * the ops table marks it as a profile handler so the loader can find it and keep it out of
 * profiles.
 */
#include "sched/plugins.h"

const struct sy_plugin_ops sy_plugin_single_profile_handler = {
    .type = "single-profile-handler",
    .profile_handler = true,
};
