/*
 * fleetprof: the query command. Thin on purpose: everything it does lives
 * in fp_cli (cli_main.c and the command files) so tests can call it.
 */
#include "cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv, stdout, stderr);
}
