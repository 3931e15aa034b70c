/** The copy-paste example of a prediction request, with a placeholder for an API key. */

export function predictCurl(origin: string, versionId: string, organizationId: string | null): string {
  const lines = [
    `curl -X POST "${origin}/api/v1/model-versions/${versionId}/predict" \\`,
    `  -H "Authorization: Bearer $HATCHERY_API_KEY" \\`,
  ];
  if (organizationId) lines.push(`  -H "X-Hatchery-Organization: ${organizationId}" \\`);
  lines.push(`  -F "files=@part.jpg"`);
  return lines.join("\n");
}
