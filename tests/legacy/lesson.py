import openai
response = openai.Image.create(prompt="a dog smoking a cigar in a poker room.", n=1, size="256x256")
print(response)
image_url = response['data'][0]['url']
print(image_url)
