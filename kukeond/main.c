/* kukeond: the supervisor of the Kukeon daemon group (see docs/security.md). */
#include <stdio.h>
#include <string.h>

#include "common/log.h"

int main(int argc, char **argv)
{
    kk_log_init("kukeond", KK_LOG_INFO);
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("Usage: kukeond [flags] serve\n");
        return 0;
    }
    fprintf(stderr, "Error: kukeond serve is not yet implemented\n");
    return 1;
}
