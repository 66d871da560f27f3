#ifndef MODELOPS_CYAML_SHIM_H
#define MODELOPS_CYAML_SHIM_H
#include <yaml.h>
#endif
