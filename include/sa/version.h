/* version.h — the one place the selfalign version is written.
 *
 * Purpose: `selfalign --version`, run manifests and exported model metadata
 * all read SA_VERSION from here, so a release changes one line.
 *
 * Ownership: constants only.
 *
 * Usage:
 *     printf("selfalign %s\n", SA_VERSION);
 */
#ifndef SA_VERSION_H
#define SA_VERSION_H

#define SA_VERSION_MAJOR 0
#define SA_VERSION_MINOR 1
#define SA_VERSION_PATCH 0
#define SA_VERSION "0.1.0"

#endif
