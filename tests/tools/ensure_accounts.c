/* ensure_accounts: create the system accounts the daemon group runs as (kukeon, kukeon-cgd,
 * kukeon-ctrd, kukeon-fetchd), as `kuke init` does, so that every integration test finds them on a
 * fresh machine whatever order the tests run in. They are left in place afterwards, as `kuke
 * uninstall` leaves them: they are part of an installation, not of a test. */
#include <stdio.h>

#include "security/sandbox.h"

int main(void)
{
    struct kk_err err = {0};
    if (kk_accounts_ensure(&err) < 0) {
        fprintf(stderr, "ensure_accounts: %s\n", err.msg);
        return 1;
    }
    return 0;
}
