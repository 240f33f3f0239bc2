#pragma once
// All the checkers: the Checker / CheckerPass / CheckerFeed interface
// (checker.hpp) and one header per checker.
#include "haverify/check/bank.hpp"
#include "haverify/check/checker.hpp"
#include "haverify/check/convergence.hpp"
#include "haverify/check/durability.hpp"
#include "haverify/check/memory_growth.hpp"
#include "haverify/check/read_your_writes.hpp"
#include "haverify/check/single_vip.hpp"
#include "haverify/check/single_writer.hpp"
