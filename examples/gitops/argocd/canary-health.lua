-- Argo CD health for kanaria.dev/Canary, from the conditions kanaria writes (kstatus-style):
-- Stalled=True (rolled back, or blocked until someone changes something) -> Degraded,
-- Ready=True (promoted, or initialised) -> Healthy, anything else -> Progressing.
local hs = { status = "Progressing", message = "Waiting for kanaria to reconcile the Canary" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < generation then
  hs.message = "kanaria has not seen the latest spec yet"
  return hs
end
local found = {}
for _, condition in ipairs(obj.status.conditions) do
  found[condition.type] = condition
end
local stalled, ready, reconciling = found["Stalled"], found["Ready"], found["Reconciling"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message or stalled.reason or "Stalled"
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ready.reason or "Ready"
elseif reconciling ~= nil and reconciling.status == "True" then
  hs.message = reconciling.message or reconciling.reason or "Reconciling"
elseif ready ~= nil then
  hs.message = ready.message or ready.reason or hs.message
end
return hs
