/*
 * fleetprof for C++: an RAII scope on top of the C API. The destructor runs
 * on return and during exception unwinding, so a throw never leaves a frame
 * open on the agent's shadow stack.
 *
 *	#include <fleetprof/fleetprof.hpp>
 *	void Parser::parse() { FP_CXX_FUNCTION(); … }   // "Parser::parse()"
 *	{ fleetprof::Scope s(&site); … }                   // a static fp_site
 */
#ifndef FLEETPROF_FLEETPROF_HPP
#define FLEETPROF_FLEETPROF_HPP

#include "fleetprof.h"

namespace fleetprof
{

class Scope
{
      public:
	explicit Scope(const fp_site *site) noexcept : site_(site)
	{
		fp_enter(site);
	}
	~Scope()
	{
		fp_exit_site(site_);
	}
	Scope(const Scope &) = delete;
	Scope &operator=(const Scope &) = delete;

      private:
	const fp_site *site_;
};

} // namespace fleetprof

#ifndef FLEETPROF_DISABLE
/* Times the enclosing function, named as the compiler spells it with its
 * class and parameters (__PRETTY_FUNCTION__). */
#define FP_CXX_FUNCTION() FP_CXX_SCOPE_NAMED_(__PRETTY_FUNCTION__)
#define FP_CXX_SCOPE(name) FP_CXX_SCOPE_NAMED_(name)
#define FP_CXX_SCOPE_NAMED_(name)                               \
	static const fp_site FP_CONCAT_(fp_site_, __LINE__) = { \
		(name), __FILE__, __LINE__};                    \
	::fleetprof::Scope FP_CONCAT_(fp_scope_, __LINE__)(     \
		&FP_CONCAT_(fp_site_, __LINE__))
#else
#define FP_CXX_FUNCTION() ((void)0)
#define FP_CXX_SCOPE(name) ((void)0)
#endif

#endif
