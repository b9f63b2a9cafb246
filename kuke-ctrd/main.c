/* kuke-ctrd: privileged helper of the kukeond group (see docs/security.md). */
#include <stdio.h>

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kuke-ctrd: not yet implemented; it is started by kukeond, not by hand\n");
    return 1;
}
