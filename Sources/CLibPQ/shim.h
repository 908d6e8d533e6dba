#ifndef DATARIGHTS_CLIBPQ_SHIM_H
#define DATARIGHTS_CLIBPQ_SHIM_H

#include <libpq-fe.h>
#include <poll.h>

/* PG_DIAG_* are character-literal macros, which Swift does not import; name them here. */
static const int CLibPQ_DIAG_SEVERITY = 'V';
static const int CLibPQ_DIAG_SQLSTATE = 'C';
static const int CLibPQ_DIAG_MESSAGE_PRIMARY = 'M';
static const int CLibPQ_DIAG_MESSAGE_DETAIL = 'D';
static const int CLibPQ_DIAG_MESSAGE_HINT = 'H';
static const int CLibPQ_DIAG_CONSTRAINT_NAME = 'n';

#endif
