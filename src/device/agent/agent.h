/* agent.h - the commands of ztm-device that live outside main.c. */
#ifndef ZTMDEV_AGENT_H
#define ZTMDEV_AGENT_H

/* ztm-device fw-verify ... (fw_verify.c); the exit status. */
int fw_verify_main(int argc, char **argv);

#endif
